// The customer's tracking page in a real browser (Debian's Chromium via playwright-core)
// against a real `fieldsync serve` on port 0, while a real device (the `fieldsync device` CLI)
// works the ticket, and the dispatcher console in a second browser context. Issue 15.
// Prints "N passed, M failed" last; exits non-zero on any failure.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Harness, check, fieldsync, run, shot, signIn } from "./harness.mjs";

// Whether `text` shows `secret`. A secret of digits alone ("4711") also turns up by chance
// inside the page's random tokens and ids (hex, UUIDs): there it counts only standing alone.
const shows = (text, secret) =>
  /^\d+$/.test(secret) ? new RegExp(`(^|[^0-9A-Za-z-])${secret}($|[^0-9A-Za-z-])`).test(text) : text.includes(secret);

await Harness.main("fieldsync-tracking-", async (h) => {
  const work = h.work;
  const dana = await h.user("dana", "dispatcher");
  const mei = await h.user("Mei Chen", "engineer");
  const url = await h.startServer(["--utc-offset-minutes", "480"]);

  const { online, offline } = h.device("mei", mei);
  const rest = async (method, route, body) => {
    const response = await fetch(url + route, {
      method,
      headers: { Authorization: `Bearer ${dana}`, "Content-Type": "application/json" },
      body: body && JSON.stringify(body),
    });
    check(response.ok, `${method} ${route}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  };
  const newTicket = async (title) =>
    (
      await rest("POST", "/v1/tickets", {
        title,
        description: "Gate code 4711; customer is difficult",
        customer: { name: "Ms Jansen", phone: "+86 138 0000 1234", address: "Nanjing Road 1", tier: "gold" },
        sla: { arrive_by: Date.now() + 2 * 3600_000, resolve_by: Date.now() + 6 * 3600_000 },
        assignee: "Mei Chen",
      })
    ).id;
  const ticket = await newTicket("Air conditioner not cooling");
  const other = await newTicket("Fridge door seal");
  await rest("POST", `/v1/tickets/${ticket}/actions`, { action: "add_note", text: "INTERNAL: bring the big ladder" });

  const browser = await h.launchBrowser();
  // The customer on a small phone, English first; the dispatcher on a desktop.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-GB", isMobile: true });
  const customer = await phone.newPage();
  customer.setDefaultTimeout(15000);
  const desk = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const console_ = await desk.newPage();
  console_.setDefaultTimeout(15000);
  const text = async (page, selector) => (await page.textContent(selector)) ?? "";
  h.onFailure = (n) => shot(customer, `tracking-failed-${n}`);
  const step = (name, body) => h.step(name, body);
  const current = (page) => page.$eval("#steps li.current", (li) => li.getAttribute("data-key"));
  const waitForStep = (key) =>
    customer.waitForFunction((k) => document.querySelector("#steps li.current")?.getAttribute("data-key") === k, key);

  let link = "";
  let otherLink = "";

  await step("the dispatcher CLI shows the tracking link made at dispatch", async () => {
    const shown = JSON.parse(await fieldsync(["dispatch", "--server", url, "--token", dana, "show", ticket, "--json"]));
    link = shown.tracking_url;
    check(typeof link === "string" && link.startsWith(`${url}/t/`) && /\/t\/[0-9a-f]{48}$/.test(link), `link ${link}`);
    otherLink = JSON.parse(await fieldsync(["dispatch", "--server", url, "--token", dana, "show", other, "--json"]))
      .tracking_url;
    check(otherLink && otherLink !== link, "each ticket its own link");
  });

  await step("the page opens on a phone in English: assigned, first name only, promised times", async () => {
    const response = await customer.goto(link);
    check(response.status() === 200, `status ${response.status()}`);
    check((await current(customer)) === "assigned", await current(customer));
    check((await text(customer, "#engineer-name")) === "Mei", await text(customer, "#engineer-name"));
    const body = await customer.content();
    for (const secret of ["Chen", "INTERNAL", "ladder", "138 0000", "Jansen", "Nanjing Road", "4711", "difficult"]) {
      check(!shows(body, secret), `the page shows ${secret}`);
    }
    check((await text(customer, "#promises")).includes("We will be with you by"), await text(customer, "#promises"));
    check((await text(customer, "#zone")) === "UTC+08:00", await text(customer, "#zone"));
    await customer.waitForFunction(() => document.getElementById("track").getAttribute("data-live") === "1");
    // Page weight without photos: the HTML, the script and the styles.
    const weight = await customer.evaluate(() =>
      performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
        .reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize || 0), 0));
    console.log(`      page weight ${weight} bytes`);
    check(weight > 0 && weight <= 100 * 1024, `page weight ${weight}`);
    await customer.evaluate(() => { window.__sameDocument = true; });
    await shot(customer, "tracking-01-assigned-en");
  });

  await step("the device accepts, travels with an ETA and checks in; the page follows live", async () => {
    await online("sync");
    await offline("accept", ticket);
    await offline("travel", ticket, "--eta-minutes", "25");
    await online("sync");
    await waitForStep("on_the_way");
    check(!(await customer.$eval("#eta", (e) => e.hidden)), "no ETA shown");
    check(/\d\d:\d\d/.test(await text(customer, "#eta-time")), await text(customer, "#eta-time"));
    await shot(customer, "tracking-02-on-the-way");
    await offline("check-in", ticket, "--lat", "31.2304", "--lon", "121.4737");
    await online("sync");
    await waitForStep("on_site");
    check(await customer.evaluate(() => window.__sameDocument === true), "the page was reloaded");
  });

  await step("a customer message reaches the console live and the device after its sync", async () => {
    await signIn(console_, url, dana);
    await console_.goto(`${url}/console/tickets/${ticket}`);
    check((await text(console_, "#tracking-url")) === link, await text(console_, "#tracking-url"));
    await console_.evaluate(() => { window.__sameDocument = true; });
    const message = "Please ring the bell twice <b>not bold</b>";
    await customer.fill("#message-text", message);
    await customer.click("#message-form button");
    await customer.waitForFunction(() => document.querySelector("#conversation li.mine p")?.textContent.includes("ring the bell"));
    check((await customer.$$("#conversation b")).length === 0, "markup in a message was parsed");
    await console_.waitForFunction(() => document.getElementById("customer-messages")?.textContent.includes("ring the bell twice"));
    check(await console_.evaluate(() => window.__sameDocument === true), "the console was reloaded");
    check((await console_.$$("#customer-messages b")).length === 0, "markup in a message was parsed on the console");
    await shot(console_, "tracking-03-console-customer-message");
    await online("sync");
    const onPhone = JSON.parse(await offline("show", ticket, "--json"));
    check(onPhone.customer_messages.length === 1 && onPhone.customer_messages[0].text === message,
      JSON.stringify(onPhone.customer_messages));
    check(onPhone.customer_messages[0].by === "customer", onPhone.customer_messages[0].by);
  });

  await step("the engineer and the dispatcher answer with public notes; internal notes stay internal", async () => {
    await offline("note", ticket, "Will ring twice, see you in 5 minutes", "--public");
    await offline("note", ticket, "INTERNAL: compressor looks old");
    await online("sync");
    await customer.waitForFunction(() => document.getElementById("conversation").textContent.includes("see you in 5 minutes"));
    check(!(await customer.content()).includes("compressor"), "an internal note reached the page");
    await console_.fill("#public-note-form input[name=text]", "The service desk: the visit is free of charge");
    await console_.click("#public-note-form button");
    await console_.waitForURL(`**/console/tickets/${ticket}`);
    await customer.waitForFunction(() => document.getElementById("conversation").textContent.includes("free of charge"));
    check(await customer.evaluate(() => window.__sameDocument === true), "the page was reloaded");
    await shot(customer, "tracking-04-conversation");
  });

  await step("work done and completed, live; the rating is offered", async () => {
    await offline("work", ticket);
    await offline("complete", ticket, "--summary", "Refilled refrigerant");
    await online("sync");
    await waitForStep("completed");
    check((await customer.$$eval("#steps li.done", (l) => l.length)) === 6, "every step done");
    check(!(await customer.$eval("#rate", (e) => e.hidden)), "no rating form");
    check(!(await customer.$eval("#report", (e) => e.hidden)), "no place for the service report");
    check(await customer.evaluate(() => window.__sameDocument === true), "the page was reloaded");
    await shot(customer, "tracking-05-completed-rate");
  });

  await step("the service report PDF downloads from the page", async () => {
    const href = await customer.$eval("#report-link", (a) => a.href);
    const answer = await customer.evaluate(async (url) => {
      const r = await fetch(url);
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get("content-type"), head: String.fromCharCode(...bytes.slice(0, 5)), size: bytes.length };
    }, href);
    check(answer.status === 200, `report status ${answer.status}`);
    check(answer.type === "application/pdf", `report type ${answer.type}`);
    check(answer.head === "%PDF-", `not a PDF: ${answer.head}`);
    check(answer.size > 1000 && answer.size <= 1024 * 1024, `report size ${answer.size}`);
    // Read back (poppler's pdftotext): the customer's copy, in Chinese and English, with the
    // public notes and none of the desk's internal text or the engineer's surname.
    const pdf = path.join(work, "tracking-report.pdf");
    fs.writeFileSync(pdf, Buffer.from(await (await fetch(href)).arrayBuffer()));
    const { stdout: words } = await run("pdftotext", ["-enc", "UTF-8", pdf, "-"]);
    for (const shown of ["服务报告 Service report", "Air conditioner not cooling", "see you in 5 minutes", "free of charge"]) {
      check(words.includes(shown), `the report lacks ${shown}: ${words}`);
    }
    for (const secret of ["INTERNAL", "ladder", "compressor", "4711", "difficult", "Chen"]) {
      check(!shows(words, secret), `the customer's report shows ${secret}: ${words}`);
    }
  });

  await step("the customer rates 2; the follow-up appears on the console and is recorded", async () => {
    await customer.check('#rate-form input[name=rating][value="2"]');
    await customer.fill("#rate-form textarea[name=comment]", "Came an hour late");
    await customer.click("#rate-form button");
    await customer.waitForFunction(() => document.getElementById("rating")?.textContent === "2");
    check(await customer.$eval("#rate", (e) => e.hidden), "the form is offered again");
    await shot(customer, "tracking-06-rated");
    await console_.goto(`${url}/console/follow-ups`);
    const row = `#follow-ups tr[data-ticket="${ticket}"]`;
    check((await text(console_, `${row} .rating`)).startsWith("2"), await text(console_, `${row} .rating`));
    check((await text(console_, row)).includes("Came an hour late"), await text(console_, row));
    await console_.fill(`${row} input[name=outcome]`, "Called back, apologised, voucher sent");
    await console_.click(`${row} button`);
    await console_.waitForSelector(`${row} .outcome`);
    check((await text(console_, `${row} .by`)) === "dana", await text(console_, `${row} .by`));
    await shot(console_, "tracking-07-follow-ups");
    await console_.goto(`${url}/console/tickets/${ticket}`);
    check((await text(console_, "#customer-rating")).startsWith("2 / 5"), await text(console_, "#customer-rating"));
  });

  await step("the same page in Simplified Chinese", async () => {
    const zh = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "zh-CN", isMobile: true });
    const page = await zh.newPage();
    await page.goto(link);
    check((await page.getAttribute("html", "lang")) === "zh-CN", "lang");
    check((await text(page, "h1")) === "您的上门服务", await text(page, "h1"));
    check((await text(page, '#steps li[data-key="completed"] .label')) === "服务已完成", "steps in Chinese");
    check((await text(page, "#rated")).includes("感谢您的评价"), await text(page, "#rated"));
    check(/\d+月\d+日 \d\d:\d\d/.test(await text(page, '#steps li[data-key="completed"] time')), "Chinese dates");
    await page.waitForFunction(() => document.getElementById("track").getAttribute("data-live") === "1");
    await shot(page, "tracking-08-completed-zh");
    await zh.close();
  });

  await step("a guessed, a revoked and another ticket's retired token each get a plain 404", async () => {
    const guessed = `${url}/t/${crypto.randomBytes(24).toString("hex")}`;
    // The other ticket: its page shows only itself; then its link is renewed from the console,
    // and the token it had gets 404 while the new one works.
    const otherPage = await (await fetch(otherLink)).text();
    check(otherPage.includes("Fridge door seal") && !otherPage.includes("Air conditioner"), "another ticket's page");
    await console_.goto(`${url}/console/tickets/${other}`);
    await console_.click("#new-link-form button");
    await console_.waitForURL(`**/console/tickets/${other}`);
    const renewed = await text(console_, "#tracking-url");
    check(renewed !== otherLink && (await fetch(renewed)).status === 200, `renewed ${renewed}`);
    // Revoke this ticket's link from the console, with the customer's page still open.
    await console_.goto(`${url}/console/tickets/${ticket}`);
    console_.once("dialog", (dialog) => dialog.accept());
    await console_.click("#revoke-link-form button");
    await console_.waitForURL(`**/console/tickets/${ticket}`);
    // The open page's live stream ends at once: it shows it is reconnecting (and gets 404s).
    await customer.waitForFunction(() => document.getElementById("live").className === "live off");
    check((await text(console_, "#tracking")).startsWith("—"), await text(console_, "#tracking"));
    for (const [what, address] of [["guessed", guessed], ["revoked", link], ["other ticket's", otherLink]]) {
      const response = await customer.goto(address);
      check(response.status() === 404, `${what}: ${response.status()}`);
      check((await customer.textContent("body")).trim() === "Not Found", `${what}: not a plain 404`);
    }
    await shot(customer, "tracking-09-revoked-404");
  });
});
