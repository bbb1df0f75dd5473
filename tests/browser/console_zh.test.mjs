// The dispatcher console in Simplified Chinese, in a real browser (Debian's Chromium via
// playwright-core, locale zh-CN) against a real `fieldsync serve` on port 0, with a real device
// (the `fieldsync device` CLI) moving a ticket along. Walks the main pages in Chinese, fails on
// any English word of the console's chrome left visible, switches to English and back (the
// choice is remembered over the browser's language), and saves a screenshot of each page as
// NAME-zh.png. Prints "N passed, M failed" last; exits non-zero on any failure.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import { Harness, check, shot as shotOf, signIn } from "./harness.mjs";

// English words of the console's chrome; none may be visible when Chinese is chosen. ("URL",
// "Webhook", "SLA", "CSV", "PDF" are loanwords Chinese software keeps.) Data the test typed
// (names, ids) is chosen not to collide with these.
const ENGLISH = new Set(
  (
    "Board Engineers Reports Settings Sign Status Priority Filter all none overdue left assignee customer " +
    "created Timeline Actions Reassign Assign Cancel Reopen Notes Parts Photos Signature Deliveries Events " +
    "enabled pending delivered failed dispatched accepted completed cancelled travelling new New ticket Ticket " +
    "by version rules Save Create Revoke sync open yes no cannot device server when what Type Product Module " +
    "Version Record Show From To group tickets priority type milestone deadline respond arrive resolve met due " +
    "any Routing Suggested least loaded served note Escalation Follow subscription live reconnecting site"
  ).split(" "),
);

/** The English words of ENGLISH the page shows (text, placeholders, titles; not code samples). */
async function englishOn(page) {
  const text = await page.evaluate(() => {
    const body = document.body.cloneNode(true);
    // Code samples, and the text areas whose content is the data an admin edits.
    body.querySelectorAll("code, script, textarea").forEach((e) => e.remove());
    const attributes = [...document.querySelectorAll("[placeholder], [title], [data-confirm], img[alt]")].map(
      (e) => [e.getAttribute("placeholder"), e.getAttribute("title"), e.getAttribute("data-confirm"), e.getAttribute("alt")].join(" "),
    );
    // innerText of a detached clone is its textContent: hidden elements count too.
    return body.textContent + " " + attributes.join(" ");
  });
  return [...new Set(text.split(/[^A-Za-z]+/).filter((w) => ENGLISH.has(w)))].sort();
}

await Harness.main("fieldsync-browser-zh-", async (h) => {
    const root = await h.user("root", "admin");
  const eli = await h.user("eli", "engineer");
  const url = await h.startServer(["--allow-private-webhooks"]);
  const { offline: device, sync } = h.device("eli", eli);

  const browser = await h.launchBrowser(["--lang=zh-CN"]);
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 }, locale: "zh-CN" });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const shot = (name) => shotOf(page, `${name}-zh`);
  const text = async (selector) => (await page.textContent(selector)) ?? "";
  h.onFailure = (n) => shotOf(page, `failed-zh-${n}`);
  const step = (name, body) => h.step(name, body);
  /** Opens `route`, checks it is Chinese with no English left, and saves NAME-zh.png. */
  const chinese = async (route, name) => {
    if (route) await page.goto(`${url}${route}`);
    check((await page.getAttribute("html", "lang")) === "zh-CN", `${page.url()}: <html lang> is not zh-CN`);
    const english = await englishOn(page);
    check(english.length === 0, `${page.url()} shows English: ${english.join(", ")}`);
    await shot(name);
  };

  let ticket = "";

  await step("the sign-in page follows the browser's language", async () => {
    await page.goto(`${url}/console/board`);
    check(page.url().endsWith("/console/login"), page.url());
    check((await text("h1")).includes("调度台"), await text("h1"));
    await chinese("", "00-login");
    await page.fill("input[name=token]", eli);
    await page.click("#login-form button");
    await page.waitForSelector("#login-error");
    check((await text("#login-error")).includes("工程师不能登录调度台"), await text("#login-error"));
  });

  await step("an admin signs in and the board is in Chinese, live, times in the organisation's zone", async () => {
    await signIn(page, url, root);
    await page.waitForFunction(() => document.getElementById("live-state")?.textContent === "实时");
    const columns = await page.$$eval(".column h2", (hs) => hs.map((h) => h.firstChild.textContent.trim()));
    for (const status of ["新建", "已派单", "已接单", "在途", "已到场", "已完成", "已取消"]) {
      check(columns.includes(status), `no column ${status}: ${columns}`);
    }
    check((await text("#zone")).includes("UTC+08:00"), await text("#zone"));
    await chinese("", "01-board");
  });

  await step("a classified ticket made on the Chinese form shows its status and timeline in Chinese", async () => {
    await page.goto(`${url}/console/tickets/new`);
    await chinese("", "02-new-ticket");
    await page.fill("input[name=title]", "锅炉漏水");
    await page.fill("#customer", "阿姆斯特尔酒店");
    await page.fill("input[name=address]", "阿姆斯特尔路 1 号");
    await page.fill("input[name=lat]", "52.3702");
    await page.fill("input[name=lon]", "4.8952");
    await page.selectOption("#assignee", "eli");
    await page.click("#new-ticket button[type=submit]");
    await page.waitForURL(/\/console\/tickets\/[0-9a-f-]{36}$/);
    ticket = page.url().split("/").pop();
    check((await text("#status")) === "已派单", await text("#status"));
    // The engineer's phone moves it along, offline, then syncs.
    await sync();
    await device("accept", ticket);
    await device("travel", ticket);
    await device("check-in", ticket, "--lat", "52.3704", "--lon", "4.8952");
    await device("note", ticket, "密封圈磨损，已更换");
    await sync();
    await page.goto(`${url}/console/tickets/${ticket}`);
    check((await text("#status")) === "已到场", await text("#status"));
    const timeline = await page.$$eval("#timeline tr", (rows) => rows.map((r) => r.innerText));
    check(timeline.some((r) => r.includes("接单")) && timeline.some((r) => r.includes("签到")), `timeline: ${timeline}`);
    check(timeline.some((r) => r.includes("UTC+08:00")), `times in the zone: ${timeline}`);
    await chinese("", "03-detail");
  });

  await step("a refusal reads as Chinese", async () => {
    await page.goto(`${url}/console/tickets/${ticket}`);
    // Reopening is only for finished tickets: post it anyway, as a stale page would.
    await page.evaluate(() => {
      const form = document.getElementById("note-form");
      form.querySelector("input[name=action]").value = "reopen";
      const reason = document.createElement("input");
      reason.name = "reason";
      reason.value = "再修一次";
      form.appendChild(reason);
      form.querySelector("input[name=text]").value = "x";
      form.submit();
    });
    await page.waitForSelector("#error-message");
    check((await text("#error-message")).includes("无法重开"), await text("#error-message"));
    await chinese("", "04-refusal");
  });

  await step("reports, webhooks, settings, engineers and follow-ups are in Chinese", async () => {
    await chinese("/console/reports", "05-reports");
    check((await text("#report-engineer h2")).includes("按工程师"), await text("#report-engineer h2"));
    await page.goto(`${url}/console/webhooks`);
    await chinese("", "06-webhooks");
    await page.fill("#new-webhook input[name=url]", "http://127.0.0.1:9/hook");
    await page.check('#new-webhook input[name=events][value="checked_in"]');
    await page.click("#new-webhook button[type=submit]");
    await page.waitForSelector("#webhook-secret");
    await chinese("", "07-webhook-created");
    await page.click("#webhook-link");
    await page.waitForSelector("#deliveries");
    await chinese("", "08-webhook");
    await chinese("/console/settings", "09-settings");
    await chinese("/console/engineers", "10-engineers");
    check((await text("#engineers")).includes("已到场"), await text("#engineers"));
    await chinese("/console/follow-ups", "11-follow-ups");
  });

  await step("switching to English and back is remembered over the browser's language", async () => {
    await page.goto(`${url}/console/reports`);
    await page.click("#lang-en");
    await page.waitForURL("**/console/reports");
    check((await page.getAttribute("html", "lang")) === "en", "not English after the switch");
    check((await text("h1")) === "Service reports", await text("h1"));
    await page.click("#lang-zh");
    await page.waitForURL("**/console/reports");
    // The browser now asks for English: the remembered choice wins.
    await page.setExtraHTTPHeaders({ "Accept-Language": "en-US,en;q=0.9" });
    await page.goto(`${url}/console/board`);
    check((await page.getAttribute("html", "lang")) === "zh-CN", "the choice was not remembered");
    const cookie = (await context.cookies()).find((c) => c.name === "fieldsync_lang");
    check(cookie && cookie.value === "zh" && cookie.httpOnly, `cookie: ${JSON.stringify(cookie)}`);
  });
});
