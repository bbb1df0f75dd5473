// The shared pool (抢单, docs/adr/0023) in a real browser (Debian's Chromium via playwright-core)
// against a real `fieldsync serve` on port 0, in English and in Simplified Chinese: a
// dispatcher makes an unassigned ticket in the console and puts it into the pool; two
// engineers' devices (the `fieldsync device` CLI, each its own store) receive it and both claim
// it offline; the first claim the server receives wins, the other device is told "claimed by
// someone else" and loses the ticket; the console's ticket page shows who claimed it. An admin
// then sets a skill group and a routing rule on the settings page, and a new ticket naming no
// engineer goes to the group. The Chinese pages show no English of the console's chrome.
// Prints "N passed, M failed" last; exits non-zero on any failure.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import { Harness, check, shot as shotOf, signIn } from "./harness.mjs";

// English words of the console's chrome that must not show on a Chinese page.
const ENGLISH = new Set(
  "Board Engineers Reports Settings Sign pool Pool claimed claim accepted assignee Put the in any engineer".split(" "),
);

async function englishOn(page) {
  const text = await page.evaluate(() => {
    const body = document.body.cloneNode(true);
    body.querySelectorAll("code, script, textarea, option, #timeline td:nth-child(2)").forEach((e) => e.remove());
    const attributes = [...document.querySelectorAll("[placeholder], [title]")].map((e) =>
      [e.getAttribute("placeholder"), e.getAttribute("title")].join(" "),
    );
    return body.textContent + " " + attributes.join(" ");
  });
  return [...new Set(text.split(/[^A-Za-z]+/).filter((w) => ENGLISH.has(w)))].sort();
}

const ROUNDS = {
  en: { locale: "en-US", title: "Chiller alarm", pooled: "in the pool", claimed: "claimed", accepted: "accepted" },
  zh: { locale: "zh-CN", title: "冷水机组报警", pooled: "抢单池中", claimed: "已抢单", accepted: "已接单" },
};

await Harness.main("fieldsync-browser-pool-", async (h) => {
    const root = await h.user("root", "admin");
  const eli = await h.user("eli", "engineer");
  const fay = await h.user("fay", "engineer");
  const url = await h.startServer();
  const phone = (name, token) => {
    const { offline: device, sync } = h.device(name, token);
    return { device, sync };
  };
  const elis = phone("eli", eli);
  const fays = phone("fay", fay);

  const browser = await h.launchBrowser();

  for (const [lang, r] of Object.entries(ROUNDS)) {
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 }, locale: r.locale });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    const text = async (selector) => ((await page.textContent(selector)) ?? "").trim();
    const shot = (name) => shotOf(page, `${name}-${lang}`);
    h.onFailure = (n) => shotOf(page, `failed-pool-${lang}-${n}`);
    const step = (name, body) => h.step(`${lang}: ${name}`, body);
    const speaks = async () => {
      if (lang !== "zh") return;
      check((await page.getAttribute("html", "lang")) === "zh-CN", `${page.url()}: <html lang> is not zh-CN`);
      const english = await englishOn(page);
      check(english.length === 0, `${page.url()} shows English: ${english.join(", ")}`);
    };
    let ticket = "";

    await step("a dispatcher makes an unassigned ticket and puts it into the pool", async () => {
      await signIn(page, url, root);
      await page.goto(`${url}/console/tickets/new`);
      await page.fill("input[name=title]", r.title);
      await page.selectOption("#assignee", "");
      await page.click("#new-ticket button[type=submit]");
      await page.waitForURL(/\/console\/tickets\/[0-9a-f-]{36}$/);
      ticket = page.url().split("/").pop();
      check((await page.$("#pool-form")) !== null, "a new ticket may go into the pool");
      await speaks();
      await page.click("#pool-form button");
      await page.waitForURL(`**/console/tickets/${ticket}`);
      check((await text("#status")) === r.pooled, `status: ${await text("#status")}`);
      check((await page.$("#pool-form")) === null, "no second pooling");
      await speaks();
      await shot("pool-pooled");
    });

    await step("both engineers' devices hold it and claim it offline; the first received wins", async () => {
      await elis.sync();
      await fays.sync();
      for (const p of [elis, fays]) {
        const shown = JSON.parse(await p.device("show", ticket, "--json"));
        check(shown.status === "pooled" && !shown.assignee, `on the device: ${shown.status} ${shown.assignee}`);
      }
      await fays.device("claim", ticket);
      await elis.device("claim", ticket);
      // fay's claim reaches the server first.
      const won = await fays.sync();
      check(!won.includes("rejected"), `fay's sync: ${won}`);
      const lost = await elis.sync();
      check(lost.includes("claimed by someone else"), `eli is told: ${lost}`);
      check(lost.includes(`removed from this device: ${ticket}`), `and loses it: ${lost}`);
      const left = JSON.parse(await elis.device("list", "--json"));
      check(left.every((t) => t.id !== ticket), `gone from eli's device: ${JSON.stringify(left)}`);
    });

    await step("the ticket page shows who claimed it", async () => {
      await page.goto(`${url}/console/tickets/${ticket}`);
      check((await text("#assignee")) === "fay", `assignee: ${await text("#assignee")}`);
      check((await text("#status")) === r.accepted, `status: ${await text("#status")}`);
      // Each row: who, and the events its change recorded.
      const rows = await page.$$eval("#timeline tr", (rows) =>
        rows.slice(1).map((row) => ({
          who: row.cells[2].innerText.trim(),
          events: [...row.querySelectorAll(".detail")].map((d) => d.innerText.trim()),
        })),
      );
      const claims = rows.filter((row) => row.events.some((e) => e.startsWith(r.claimed)));
      const all = JSON.stringify(rows);
      check(claims.length === 2, `both claims on the timeline: ${all}`);
      const fays = claims.find((row) => row.who === "fay");
      check(fays && fays.events.every((e) => e === r.claimed), `fay's claim stands: ${all}`);
      const elis = claims.find((row) => row.who === "eli");
      check(elis && elis.events.some((e) => e.length > r.claimed.length), `eli's voided, with why: ${all}`);
      await speaks();
      await shot("pool-claimed");
    });
    await step("an admin sets a skill group and a rule; a new ticket naming no engineer goes to the group", async () => {
      await page.goto(`${url}/console/settings`);
      await speaks();
      await page.fill("#routing-form textarea[name=groups]", "fixers: fay");
      await page.fill("#routing-form textarea[name=routing_rules]", "on_site_repair * fixers round_robin");
      await page.click("#routing-form button[type=submit]");
      await page.waitForURL("**/console/settings");
      check((await page.inputValue("#routing-form textarea[name=groups]")) === "fixers: fay", "the groups are kept");
      await page.goto(`${url}/console/tickets/new`);
      await page.fill("input[name=title]", `${r.title} 2`);
      await page.selectOption("#ticket-type", "on_site_repair");
      await page.selectOption("#assignee", "");
      await page.click("#new-ticket button[type=submit]");
      await page.waitForURL(/\/console\/tickets\/[0-9a-f-]{36}$/);
      check((await text("#assignee")) === "fay", `routed: ${await text("#assignee")}`);
      await speaks();
    });
    await context.close();
  }
});
