// What every browser test shares (tests/browser/*.test.mjs): the environment, the `fieldsync`
// binary, a real `fieldsync serve` on port 0 (ready when it says where it listens, no fixed
// sleeps), Debian's Chromium via playwright-core, device helpers over the `fieldsync device`
// CLI, the console sign-in, named steps with a screenshot on failure, screenshots, and the
// closing "N passed, M failed" line and exit code.
//
// Environment: FIELDSYNC_BIN (the fieldsync binary), SCREENSHOTS (folder for screenshots,
// default artifacts/screenshots), CHROMIUM (default /usr/bin/chromium).

import { chromium } from "playwright-core";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

export const run = promisify(execFile);
export const bin = process.env.FIELDSYNC_BIN;
export const shots = path.resolve(process.env.SCREENSHOTS || "artifacts/screenshots");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!bin) {
  console.error("FIELDSYNC_BIN is not set");
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

/** Throws `message` unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Runs the fieldsync CLI; its stdout, or an error naming the command and its stderr. */
export async function fieldsync(args) {
  return (await fieldsyncResult(args)).stdout;
}

/**
 * Runs the fieldsync CLI: `{ code, stdout, stderr }`. Throws on a non-zero exit unless
 * `mayFail`, in which case the exit code is returned.
 */
export async function fieldsyncResult(args, { mayFail = false } = {}) {
  try {
    const { stdout, stderr } = await run(bin, args, { maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    if (!mayFail) throw new Error(`fieldsync ${args.join(" ")} failed: ${e.stderr || e.message}`);
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** Saves a full-page screenshot of `page` as SCREENSHOTS/NAME.png. */
export function shot(page, name) {
  return page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

/** Signs `page` in to the console at `url` with `token` and waits for the board. */
export async function signIn(page, url, token) {
  await page.goto(`${url}/console/login`);
  await page.fill("input[name=token]", token);
  await page.click("#login-form button");
  await page.waitForURL("**/console/board");
}

/**
 * One test run: a scratch folder (`work`, the server's `data` in it), the server, the browser,
 * and the results. `Harness.main(prefix, body)` runs `body(h)` and always cleans up and exits.
 */
export class Harness {
  constructor(prefix) {
    this.work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.data = path.join(this.work, "data");
    this.results = [];
    this.server = null;
    this.browser = null;
    this.url = "";
    /** Called with the failed step's number, to screenshot what the test was looking at. */
    this.onFailure = null;
    /** Called at the end, before the server stops (a test's own listeners). */
    this.cleanups = [];
  }

  /** Adds a user to the server's data (before or while it runs); returns the user's token. */
  async user(name, role) {
    return (await fieldsync(["user", "add", name, "--role", role, "--data", this.data])).trim();
  }

  /**
   * Starts `fieldsync serve --data DATA --listen 127.0.0.1:0 ...args` and resolves with its URL
   * once it prints the whole line saying where it listens.
   */
  async startServer(args = []) {
    const child = spawn(bin, ["serve", "--data", this.data, "--listen", "127.0.0.1:0", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.server = child;
    this.url = await new Promise((resolve, reject) => {
      let seen = "";
      child.on("exit", (code) => reject(new Error(`the server exited (${code}) before listening: ${seen}`)));
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (text) => {
        seen += text;
        // The whole line: the address may arrive in pieces.
        const m = /fieldsync server on (http:\/\/\S+) .*\n/.exec(seen);
        if (m) resolve(m[1]);
      });
    });
    console.log(`server on ${this.url}`);
    return this.url;
  }

  /** Launches headless Chromium with `args` besides the usual ones. */
  async launchBrowser(args = []) {
    this.browser = await chromium.launch({
      executablePath: browserPath,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", ...args],
    });
    return this.browser;
  }

  /**
   * A device: the `fieldsync device` CLI on its own store in the scratch folder. `offline(...)`
   * works without the server; `online(...)` and `sync()` talk to it with `token`. Each returns
   * what `cli` does (stdout; pass `fieldsyncResult` for `{ code, stdout, stderr }`).
   */
  device(name, token, cli = fieldsync) {
    const store = path.join(this.work, `${name}.sqlite`);
    const offline = (...args) => cli(["device", "--store", store, ...args]);
    const online = (...args) => offline("--server", this.url, "--token", token, ...args);
    return { store, offline, online, sync: () => online("sync") };
  }

  /** Runs one named step: "ok" or "FAIL" with the error, and a screenshot on failure. */
  async step(name, body) {
    const t0 = Date.now();
    try {
      await body();
      this.results.push([name, true]);
      console.log(`ok    ${name} (${Date.now() - t0} ms)`);
    } catch (e) {
      this.results.push([name, false]);
      console.log(`FAIL  ${name}: ${e.stack || e}`);
      await this.onFailure?.(this.results.length)?.catch?.(() => {});
    }
  }

  /** Runs `body(h)`, counts a throw as a failed setup, cleans up, prints the count, exits. */
  static async main(prefix, body) {
    const h = new Harness(prefix);
    try {
      await body(h);
    } catch (e) {
      h.results.push(["setup", false]);
      console.log(`FAIL  setup: ${e.stack || e}`);
    } finally {
      await h.browser?.close().catch(() => {});
      for (const cleanup of h.cleanups) await Promise.resolve().then(cleanup).catch(() => {});
      if (h.server && h.server.exitCode === null) {
        const exited = new Promise((resolve) => h.server.once("exit", resolve));
        h.server.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(h.work, { recursive: true, force: true });
    }
    const passed = h.results.filter(([, ok]) => ok).length;
    const failed = h.results.length - passed;
    console.log(`screenshots in ${shots}`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed > 0 ? 1 : 0);
  }
}
