// Customers as records in a real browser (Debian's Chromium via playwright-core) against a real
// `fieldsync serve` on port 0, in English and in Simplified Chinese (docs/adr/0018): a
// dispatcher creates a customer record, opens its page, makes a classified ticket for it from
// there (the record preselected; its tier picks the SLA rule), an engineer's device (the
// `fieldsync device` CLI) syncs and finds the customer card on the ticket and accepts it, and
// the customer's page shows the ticket in the history with the figures it implies; search finds
// the record by a contact's name. The Chinese pages show no English of the console's chrome.
// Prints "N passed, M failed" last; exits non-zero on any failure.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import { Harness, check, shot as shotOf, signIn } from "./harness.mjs";

// English words of the console's chrome that must not show on a Chinese page (the customer
// data typed in the Chinese round is Chinese).
const ENGLISH = new Set(
  (
    "Board Engineers Reports Settings Sign Customers Customer Search Sites Site Contacts Figures Ticket " +
    "history tickets open closed mean first response breaches Name Phone Tier Level Valid from until Notes " +
    "Create Save Edit customer New ticket version none record Service contract status created type Title"
  ).split(" "),
);

async function englishOn(page) {
  const text = await page.evaluate(() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("code, script, textarea, option").forEach((e) => e.remove());
    const attributes = [...document.querySelectorAll("[placeholder], [title]")].map((e) =>
      [e.getAttribute("placeholder"), e.getAttribute("title")].join(" "),
    );
    return body.textContent + " " + attributes.join(" ");
  });
  return [...new Set(text.split(/[^A-Za-z]+/).filter((w) => ENGLISH.has(w)))].sort();
}

// What each round types, in its language.
const ROUNDS = {
  en: {
    locale: "en-US",
    name: "Harbour Hotel Group",
    contacts: "Ada Lovelace | +31 20 555 0100 | facilities",
    sites: "Main building | 1 Harbour Quay, Amsterdam\nAnnex | 3 Harbour Quay, Amsterdam",
    contact: "Lovelace",
    title: "Boiler pressure drops",
    level: "24x7",
  },
  zh: {
    locale: "zh-CN",
    name: "上海张江科技有限公司",
    contacts: "李四 | 138 0000 1234 | 厂长",
    sites: "一号厂房 | 上海市浦东新区张江路1号\n二号厂房 | 上海市浦东新区张江路2号",
    contact: "李四",
    title: "冷水机组报警",
    level: "七天二十四小时",
  },
};

await Harness.main("fieldsync-browser-customers-", async (h) => {
    const root = await h.user("root", "admin");
  const eli = await h.user("eli", "engineer");
  const url = await h.startServer();
  const { offline: device, sync } = h.device("eli", eli);

  const browser = await h.launchBrowser();

  for (const [lang, r] of Object.entries(ROUNDS)) {
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 }, locale: r.locale });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const text = async (selector) => ((await page.textContent(selector)) ?? "").trim();
    const shot = (name) => shotOf(page, `${name}-${lang}`);
    h.onFailure = (n) => shotOf(page, `failed-customers-${lang}-${n}`);
    const step = (name, body) => h.step(`${lang}: ${name}`, body);
    const speaks = async () => {
      if (lang !== "zh") return;
      check((await page.getAttribute("html", "lang")) === "zh-CN", `${page.url()}: <html lang> is not zh-CN`);
      const english = await englishOn(page);
      check(english.length === 0, `${page.url()} shows English: ${english.join(", ")}`);
    };
    let customer = "";
    let ticket = "";

    await step("a dispatcher creates a customer record with contacts, sites and a contract", async () => {
      await signIn(page, url, root);
      await page.click("#nav-customers");
      await page.waitForURL("**/console/customers");
      await speaks();
      await page.fill("#new-customer input[name=name]", r.name);
      await page.selectOption("#new-customer select[name=tier]", "gold");
      await page.fill("#new-customer textarea[name=contacts]", r.contacts);
      await page.fill("#new-customer textarea[name=sites]", r.sites);
      await page.fill("#new-customer input[name=level]", r.level);
      await page.fill("#new-customer input[name=valid_from]", "2026-01-01");
      await page.fill("#new-customer input[name=valid_until]", "2027-12-31");
      await page.click("#new-customer button[type=submit]");
      await page.waitForURL(/\/console\/customers\/[^/]+$/);
      customer = page.url().split("/").pop();
      check((await text("#customer-name")).includes(r.name), await text("#customer-name"));
      check((await text("#figure-tickets")) === "0", await text("#figure-tickets"));
      check((await page.$$("#sites tr")).length === 2, "two sites");
      check((await text("#contract")).includes(r.level), await text("#contract"));
      await speaks();
    });

    await step("a classified ticket for the record, made from its page, takes its snapshot and tier", async () => {
      await page.click("#new-ticket-for-customer");
      await page.waitForURL(/\/console\/tickets\/new\?record=/);
      const chosen = await page.$eval("#customer-ref", (s) => s.value);
      check(chosen.startsWith(`${customer}|`), `the record is preselected: ${chosen}`);
      await speaks();
      await page.fill("input[name=title]", r.title);
      await page.selectOption("#ticket-type", "on_site_repair");
      await page.selectOption("#assignee", "eli");
      await shot("customer-new-ticket");
      await page.click("#new-ticket button[type=submit]");
      await page.waitForURL(/\/console\/tickets\/[0-9a-f-]{36}$/);
      ticket = page.url().split("/").pop();
      check((await text("#customer-link")) === r.name, await text("#customer-link"));
      check((await text("#ticket-type")) !== "—", "classified");
      const fields = await text("table.fields");
      check(fields.includes(lang === "zh" ? "金" : "gold"), `the record's tier: ${fields}`);
    });

    await step("the engineer's device gets the customer card with the ticket and accepts it", async () => {
      await sync();
      const shown = JSON.parse(await device("show", ticket, "--json"));
      check(shown.customer.id === customer, `reference: ${JSON.stringify(shown.customer)}`);
      const card = shown.customer_card;
      check(card && card.name === r.name, `card: ${JSON.stringify(card)}`);
      check(card.contacts[0].name === r.contacts.split(" | ")[0], `contacts: ${JSON.stringify(card.contacts)}`);
      check(card.contract.level === r.level && card.tier === "gold", `contract: ${JSON.stringify(card)}`);
      check(!("notes" in card), "dispatchers' notes stay on the server");
      await device("accept", ticket);
      await sync();
    });

    await step("the customer's page shows the ticket in the history with its figures", async () => {
      await page.goto(`${url}/console/customers/${customer}`);
      const history = await page.$$eval("#history tr[data-ticket]", (rows) => rows.map((row) => row.innerText));
      check(history.length === 1 && history[0].includes(r.title), `history: ${history}`);
      check(history[0].includes(lang === "zh" ? "已接单" : "accepted"), `status: ${history}`);
      check((await text("#figure-tickets")) === "1", await text("#figure-tickets"));
      check((await text("#figure-open")) === "1", await text("#figure-open"));
      check((await text("#figure-closed")) === "0", await text("#figure-closed"));
      check((await text("#figure-response")) !== "—", `a first response: ${await text("#figure-response")}`);
      check((await text("#figure-breaches")) === "0", await text("#figure-breaches"));
      await speaks();
      await shot("customer-page");
    });

    await step("search finds the record by a contact's name and an edit is kept", async () => {
      await page.goto(`${url}/console/customers`);
      await page.fill("#q", r.contact);
      await page.click("#customer-search button");
      await page.waitForURL(/q=/);
      const found = await page.$$eval("#customers tr[data-customer]", (rows) => rows.map((row) => row.dataset.customer));
      check(found.length === 1 && found[0] === customer, `found: ${found}`);
      await shot("customers");
      await page.goto(`${url}/console/customers/${customer}`);
      await page.fill("#edit-customer input[name=phone]", "+86 21 5555 0199");
      await page.click("#edit-customer button[type=submit]");
      await page.waitForURL(`**/console/customers/${customer}`);
      check((await page.inputValue("#edit-customer input[name=phone]")) === "+86 21 5555 0199", "the edit is kept");
      check((await page.inputValue("#edit-customer input[name=version]")) === "2", "version 2");
    });
    await context.close();
  }
});
