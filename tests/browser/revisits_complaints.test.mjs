// Revisits (回访) and complaints in a real browser (Debian's Chromium via playwright-core)
// against a real `fieldsync serve` on port 0, with a real device (the `fieldsync device` CLI):
// a revisit that finds the job not fixed reopens it on the engineer's device, one confirmed
// fixed closes it, the first-time-fix rate follows; a complaint gets its level and is
// reclassified into a sales lead and back, on its timeline and in the complaint analysis; in
// English and in Chinese (docs/adr/0019). Prints "N passed, M failed" last; exits non-zero on
// any failure.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import { Harness, check, shot as shotOf, signIn } from "./harness.mjs";

await Harness.main("fieldsync-browser-revisits-", async (h) => {
  const { data } = h;
  const dana = await h.user("dana", "dispatcher");
  const eli = await h.user("eli", "engineer");
  const url = await h.startServer();

  const { online, offline } = h.device("eli", eli);
  const onDevice = async (id) => JSON.parse(await offline("show", id, "--json"));
  const rest = async (method, route, body) => {
    const response = await fetch(url + route, {
      method,
      headers: { Authorization: `Bearer ${dana}`, "Content-Type": "application/json" },
      body: body && JSON.stringify(body),
    });
    check(response.ok, `${method} ${route}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  };

  // Three jobs eli completes on his device, in this order: due for a revisit in this order.
  const ticket = async (title, customer) =>
    (await rest("POST", "/v1/tickets", { title, customer: { name: customer, tier: "gold" }, assignee: "eli" })).id;
  const leak = await ticket("Boiler leaks", "Mrs Wong");
  const door = await ticket("门铃不响", "王先生");
  const lift = await ticket("Lift stuck", "Hotel Amstel");
  await online("sync");
  for (const id of [leak, door, lift]) {
    await offline("accept", id);
    await offline("check-in", id, "--lat", "31.2304", "--lon", "121.4737");
    await offline("complete", id, "--summary", "fixed");
  }
  await online("sync");
  const complaint = (
    await rest("POST", "/v1/tickets", {
      title: "Rude on the phone",
      customer: { name: "Mrs Wong", tier: "gold" },
      classification: { type: "complaint" },
    })
  ).id;

  const browser = await h.launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 }, locale: "en-GB" });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  const shot = (name) => shotOf(page, `${name}`);
  const text = async (selector) => (await page.textContent(selector)) ?? "";
  h.onFailure = (n) => shot(`failed-revisits-${n}`);
  const step = (name, body) => h.step(name, body);

  await signIn(page, url, dana);

  await step("the revisit queue lists completed jobs oldest due first, with the customer's rating", async () => {
    await page.click("#nav-revisits");
    await page.waitForURL("**/console/revisits");
    const rows = await page.$$eval("#revisits tr[data-ticket]", (trs) => trs.map((tr) => tr.dataset.ticket));
    check(JSON.stringify(rows) === JSON.stringify([leak, door, lift]), `queue order: ${rows}`);
    check((await text("#ftf-rate")) === "—", `first-time fix before any revisit: ${await text("#ftf-rate")}`);
    check((await text(`tr[data-ticket="${leak}"] .rating`)) === "—", "no rating yet");
    await shot("revisits-01-queue-en");
  });

  await step("a revisit that finds the job not fixed reopens it on the engineer's device", async () => {
    const row = `tr[data-ticket="${leak}"]`;
    await page.fill(`${row} input[name=contact]`, "Mrs Wong");
    await page.check(`${row} input[name=outcome][value=not_fixed]`);
    await page.fill(`${row} input[name=note]`, "still dripping under the boiler");
    await page.click(`${row} button[type=submit]`);
    await page.waitForURL("**/console/revisits");
    check((await page.$(row)) === null, "the reopened job left the queue");
    check((await text("#ftf-rate")) === "0%", `first-time fix: ${await text("#ftf-rate")}`);
    await page.goto(`${url}/console/tickets/${leak}`);
    check((await text("#status")) === "dispatched", `status ${await text("#status")}`);
    const timeline = await page.$$eval("#timeline tr", (rows) => rows.map((r) => r.innerText));
    check(
      timeline.some((r) => r.includes("revisit: not fixed") && r.includes("dana") && r.includes("still dripping")),
      `timeline: ${timeline}`,
    );
    await shot("revisits-02-reopened-en");
    await online("sync");
    const onPhone = await onDevice(leak);
    const reopen = onPhone.events[onPhone.events.length - 1];
    check(onPhone.status === "dispatched" && onPhone.assignee === "eli", `device: ${onPhone.status} ${onPhone.assignee}`);
    check(reopen.kind === "reopened" && reopen.revisit === true && reopen.reason === "still dripping under the boiler",
      `the reopen on the device: ${JSON.stringify(reopen)}`);
    check(reopen.contact === "Mrs Wong", `contact ${reopen.contact}`);
  });

  await step("in Chinese: the queue, and a confirmed fix recorded on the ticket's page", async () => {
    await page.goto(`${url}/console/revisits`);
    await page.click("#lang-zh");
    await page.waitForURL("**/console/revisits");
    check((await page.getAttribute("html", "lang")) === "zh-CN", "the page is Chinese");
    check((await text("h1")) === "完工回访", `title ${await text("h1")}`);
    check((await text("#first-time-fix")).includes("一次修复率"), await text("#first-time-fix"));
    await shot("revisits-03-queue-zh");
    await page.click(`tr[data-ticket="${door}"] a`);
    await page.waitForURL(`**/console/tickets/${door}`);
    await page.fill("#revisit-form input[name=contact]", "王先生");
    await page.check("#revisit-form input[name=outcome][value=fixed]");
    await page.click("#revisit-form button[type=submit]");
    await page.waitForURL(`**/console/tickets/${door}`);
    check((await text("#revisit")).includes("已回访，确认已解决"), await text("#revisit"));
    check((await page.$("#revisit-form")) === null, "judged once: no second form");
    const timeline = await page.$$eval("#timeline tr", (rows) => rows.map((r) => r.innerText));
    check(timeline.some((r) => r.includes("回访：已解决") && r.includes("王先生")), `timeline: ${timeline}`);
    await shot("revisits-04-fixed-zh");
    await page.goto(`${url}/console/revisits`);
    check((await text("#ftf-rate")) === "50%", `first-time fix: ${await text("#ftf-rate")}`);
    const rows = await page.$$eval("#revisits tr[data-ticket]", (trs) => trs.map((tr) => tr.dataset.ticket));
    check(JSON.stringify(rows) === JSON.stringify([lift]), `queue: ${rows}`);
    await page.click("#lang-en");
    await page.waitForURL("**/console/revisits");
  });

  await step("a complaint gets its level and is reclassified into a sales lead, on its timeline", async () => {
    await page.goto(`${url}/console/tickets/${complaint}`);
    await page.selectOption("#complaint-form select[name=level]", "crisis");
    await page.fill("#complaint-form input[name=unit]", "Field team");
    await page.click("#complaint-form button");
    await page.waitForURL(`**/console/tickets/${complaint}`);
    check((await text("#complaint-level")) === "crisis", `level ${await text("#complaint-level")}`);
    await page.selectOption("#reclassify-form select[name=type]", "sales_lead");
    await page.click("#reclassify-form button");
    await page.waitForURL(`**/console/tickets/${complaint}`);
    const timeline = await page.$$eval("#timeline tr", (rows) => rows.map((r) => r.innerText));
    check(timeline.some((r) => r.includes("reclassify: type complaint → sales_lead") && r.includes("dana")),
      `timeline: ${timeline}`);
    check(timeline.some((r) => r.includes("complaint: level — → crisis; unit — → Field team")), `timeline: ${timeline}`);
    check((await page.$(".badge.complaint")) !== null, "a sales lead that was a complaint stays protected");
    await shot("complaints-01-reclassified-en");
    await page.click("#nav-complaints");
    await page.waitForURL("**/console/complaints");
    check((await text("#complaints-total")) === "1", await text("#complaints-total"));
    check((await text(`#complaints tr[data-ticket="${complaint}"] .type`)) === "sales lead",
      await text(`#complaints tr[data-ticket="${complaint}"] .type`));
    check((await text('#by-unit tr[data-key="Field team"] .total')) === "1", "by unit");
    check((await text('#by-tier tr[data-key="gold"] .total')) === "1", "by tier");
    await shot("complaints-02-analysis-en");
  });

  await step("in Chinese: the sales lead is reclassified back into a complaint", async () => {
    await page.goto(`${url}/console/tickets/${complaint}`);
    await page.click("#lang-zh");
    await page.waitForURL(`**/console/tickets/${complaint}`);
    check((await text("#complaint-level")) === "危机", `level ${await text("#complaint-level")}`);
    await page.selectOption("#reclassify-form select[name=type]", "complaint");
    await page.click("#reclassify-form button");
    await page.waitForURL(`**/console/tickets/${complaint}`);
    const timeline = await page.$$eval("#timeline tr", (rows) => rows.map((r) => r.innerText));
    check(timeline.some((r) => r.includes("重新分类：类型 销售线索 → 投诉")), `timeline: ${timeline}`);
    check(timeline.some((r) => r.includes("重新分类：类型 投诉 → 销售线索")), `timeline: ${timeline}`);
    await shot("complaints-03-reclassified-zh");
    await page.goto(`${url}/console/complaints`);
    check((await text("h1")) === "投诉", await text("h1"));
    check((await text(`#complaints tr[data-ticket="${complaint}"] .level`)) === "危机", "level in Chinese");
    check((await text(`#complaints tr[data-ticket="${complaint}"] .type`)) === "投诉", "type in Chinese");
    await shot("complaints-04-analysis-zh");
  });
});
