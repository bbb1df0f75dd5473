// The statistics page (issue 16 item 8, docs/adr/0024) in a real browser (Debian's Chromium via
// playwright-core) against a real `fieldsync serve` on port 0 at UTC+08:00: figures the
// test's tickets imply, bar charts, English and Chinese, and a CSV download that starts with
// the UTF-8 BOM Excel on Chinese Windows needs. Prints "N passed, M failed" last.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots),
// CHROMIUM (default /usr/bin/chromium).

import { chromium } from "playwright-core";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const bin = process.env.FIELDSYNC_BIN;
const shots = path.resolve(process.env.SCREENSHOTS || "artifacts/screenshots");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!bin) {
  console.error("FIELDSYNC_BIN is not set");
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), "fieldsync-browser-statistics-"));
const data = path.join(work, "data");

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function fieldsync(args) {
  try {
    return (await run(bin, args, { maxBuffer: 1 << 24 })).stdout;
  } catch (e) {
    throw new Error(`fieldsync ${args.join(" ")} failed: ${e.stderr || e.message}`);
  }
}

/** Starts `fieldsync serve` on port 0 and resolves with its URL once it says it listens. */
function startServer() {
  const args = ["serve", "--data", data, "--listen", "127.0.0.1:0", "--utc-offset-minutes", "480"];
  const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((resolve, reject) => {
    let seen = "";
    child.on("exit", (code) => reject(new Error(`the server exited (${code}) before listening: ${seen}`)));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
      seen += text;
      const m = /fieldsync server on (http:\/\/\S+) .*\n/.exec(seen);
      if (m) resolve({ child, url: m[1] });
    });
  });
}

const results = [];
let server;
let browser;
try {
  const dana = (await fieldsync(["user", "add", "dana", "--role", "dispatcher", "--data", data])).trim();
  const started = await startServer();
  server = started.child;
  const url = started.url;
  console.log(`server on ${url}`);
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

  browser = await chromium.launch({
    executablePath: browserPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const step = async (name, page, body) => {
    const t0 = Date.now();
    try {
      await body();
      results.push([name, true]);
      console.log(`ok    ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      results.push([name, false]);
      console.log(`FAIL  ${name}: ${e.stack || e}`);
      await page.screenshot({ path: path.join(shots, `failed-statistics-${results.length}.png`), fullPage: true }).catch(() => {});
    }
  };
  const signedIn = async (locale) => {
    const context = await browser.newContext({ viewport: { width: 1500, height: 950 }, locale, acceptDownloads: true });
    const page = await context.newPage();
    page.setDefaultTimeout(15000);
    await page.goto(`${url}/console/login`);
    await page.fill("input[name=token]", dana);
    await page.click("#login-form button");
    await page.waitForURL("**/console/board");
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
    await en.screenshot({ path: path.join(shots, "statistics-01-en.png"), fullPage: true });
  });

  const zh = await signedIn("zh-CN");
  await step("in Chinese the page reads Chinese and the CSV downloads as UTF-8 with a BOM", zh, async () => {
    await zh.goto(`${url}/console/statistics`);
    check((await zh.textContent("h1")) === "统计", await zh.textContent("h1"));
    check((await zh.textContent("#statistics-types h2")).includes("按类型统计的常见问题"), "types heading");
    const none = await cells(zh, "customers", "（无客户档案）");
    check(none[1] === "2", `no-record row: ${none}`);
    await zh.screenshot({ path: path.join(shots, "statistics-02-zh.png"), fullPage: true });
    const [download] = await Promise.all([zh.waitForEvent("download"), zh.click("#statistics-customers a.csv")]);
    const bytes = fs.readFileSync(await download.path());
    check(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf, `no BOM: ${bytes.subarray(0, 3).toString("hex")}`);
    const csv = bytes.subarray(3).toString("utf8");
    check(csv.startsWith("客户,工单数,平均首次响应（小时）,"), csv);
    check(csv.includes("\r\n上海张江科技有限公司,3,"), csv);
    check(download.suggestedFilename().startsWith("fieldsync-customers-"), download.suggestedFilename());
  });
} catch (e) {
  results.push(["setup", false]);
  console.log(`FAIL  setup: ${e.stack || e}`);
} finally {
  await browser?.close().catch(() => {});
  if (server) {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
  }
  fs.rmSync(work, { recursive: true, force: true });
}

const passed = results.filter(([, ok]) => ok).length;
const failed = results.length - passed;
console.log(`screenshots in ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
