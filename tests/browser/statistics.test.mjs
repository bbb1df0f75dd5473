// The statistics page (issue 16 item 8, docs/adr/0024) in a real browser (Debian's Chromium via
// playwright-core) against a real `fieldsync serve` on port 0 at UTC+08:00: figures the
// test's tickets imply, bar charts, English and Chinese, and a CSV download that starts with
// the UTF-8 BOM Excel on Chinese Windows needs. Prints "N passed, M failed" last.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import fs from "node:fs";
import { Harness, check, shot as shotOf, signIn } from "./harness.mjs";

await Harness.main("fieldsync-browser-statistics-", async (h) => {
    const dana = await h.user("dana", "dispatcher");
  const url = await h.startServer(["--utc-offset-minutes", "480"]);
  const rest = async (method, route, body) => {
    const response = await fetch(url + route, {
      method,
      headers: { Authorization: `Bearer ${dana}`, "Content-Type": "application/json" },
      body: body && JSON.stringify(body),
    });
    check(response.ok, `${method} ${route}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  };
  // Five tickets: three for a customer record (two bugs), a complaint and an installation.
  await rest("POST", "/v1/customers", {
    id: "zj-tech",
    name: "上海张江科技有限公司",
    tier: "Gold",
    sites: [{ id: "plant-1", label: "一号厂房", address: "上海市浦东新区张江路1号" }],
  });
  const forZhang = (title, type) => ({ title, customer: { id: "zj-tech", site_id: "plant-1" }, classification: { type } });
  const oldest = (await rest("POST", "/v1/tickets", forZhang("Login fails", "bug"))).id;
  await rest("POST", "/v1/tickets", forZhang("Report crashes", "bug"));
  await rest("POST", "/v1/tickets", forZhang("Chiller alarm", "on_site_repair"));
  await rest("POST", "/v1/tickets", { title: "Rude engineer", customer: { name: "Mrs Wong" }, classification: { type: "complaint" } });
  await rest("POST", "/v1/tickets", { title: "New unit", classification: { type: "installation" } });

  const browser = await h.launchBrowser();
  const step = async (name, page, body) => {
    h.onFailure = (n) => shotOf(page, `failed-statistics-${n}`);
    await h.step(name, body);
  };
  const signedIn = async (locale) => {
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 }, locale, acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await signIn(page, url, dana);
    return page;
  };
  const cells = (page, report, row) =>
    page.$$eval(`#statistics-${report} tr[data-row="${row}"] td`, (tds) => tds.map((td) => td.textContent));

  const en = await signedIn("en-GB");
  await step("the statistics page shows the figures the tickets imply, with charts, in English", en, async () => {
    await en.click("header a[href='/console/reports']");
    await en.waitForURL("**/console/reports");
    await en.click("a[href='/console/statistics']");
    await en.waitForURL("**/console/statistics");
    const bug = await cells(en, "types", "bug");
    check(JSON.stringify(bug) === JSON.stringify(["bug", "2", "40.0", "2", "0"]), `bug row: ${bug}`);
    const zhang = await cells(en, "customers", "上海张江科技有限公司");
    check(zhang[1] === "3" && zhang[3] === "66.7", `customer row: ${zhang}`);
    const ageing = await en.$$eval("#statistics-ageing tr[data-row]", (trs) => trs.map((tr) => tr.dataset.row));
    check(ageing.length === 5 && ageing[0] === oldest, `ageing: ${ageing}`);
    const bars = await en.$$eval("#statistics-types svg rect.bar", (rects) => rects.map((r) => r.dataset.value));
    check(JSON.stringify(bars.slice(0, 1)) === JSON.stringify(["2"]), `bars: ${bars}`);
    check((await en.textContent("form.filters")).includes("UTC+08:00"), "the organisation's zone is named");
    await shotOf(en, "statistics-01-en");
  });

  const zh = await signedIn("zh-CN");
  await step("in Chinese the page reads Chinese and the CSV downloads as UTF-8 with a BOM", zh, async () => {
    await zh.goto(`${url}/console/statistics`);
    check((await zh.textContent("h1")) === "统计", await zh.textContent("h1"));
    check((await zh.textContent("#statistics-types h2")).includes("按类型统计的常见问题"), "types heading");
    const none = await cells(zh, "customers", "（无客户档案）");
    check(none[1] === "2", `no-record row: ${none}`);
    await shotOf(zh, "statistics-02-zh");
    const [download] = await Promise.all([zh.waitForEvent("download"), zh.click("#statistics-customers a.csv")]);
    const bytes = fs.readFileSync(await download.path());
    check(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf, `no BOM: ${bytes.subarray(0, 3).toString("hex")}`);
    const csv = bytes.subarray(3).toString("utf8");
    check(csv.startsWith("客户,工单数,平均首次响应（小时）,"), csv);
    check(csv.includes("\r\n上海张江科技有限公司,3,"), csv);
    check(download.suggestedFilename().startsWith("fieldsync-customers-"), download.suggestedFilename());
  });
});
