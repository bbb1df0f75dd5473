// Load generator for the automerge-repo reference benchmark.
//
// Simulates DEVICES devices, each its own automerge-repo `Repo` (no storage:
// ephemeral, in memory) with one WebSocketClientAdapter to the sync server
// started by server.mjs (a separate process). See README.md.
//
// Usage: node bench.mjs --server-port N [--devices 50] [--docs-per-device 20]
//                       [--edits 2000] [--seconds 60] [--setup-seconds 60]
//                       [--server-pid PID] [--no-verify]
//   env: AMR_SERVER_PORT, AMR_DEVICES, AMR_DOCS_PER_DEVICE, AMR_EDITS,
//        AMR_SECONDS, AMR_SETUP_SECONDS
// Prints one JSON line on stdout at the end; progress goes to stderr.
//
// HOW "THE CHANGE IS ON THE SERVER" IS DETECTED
//
// automerge-repo 2.x has no `whenSynced()`, but every DocHandle records, per
// remote *storage id*, the heads that remote last reported in the Automerge
// sync protocol: Repo listens to its synchronizer's "sync-state" events and,
// when `syncState.theirHeads` for a peer that advertised a storage id changes,
// calls `handle.setSyncInfo(storageId, …)`, which emits the DocHandle event
// `"remote-heads"` ({ storageId, heads, timestamp }) and is readable with
// `handle.getSyncInfo(storageId)`. The server (it has NodeFS storage) advertises
// its storage id in the websocket handshake; the device reads it with
// `repo.getStorageIdOfPeer(serverPeerId)`.
//
// `theirHeads` only changes when the server sends a sync message carrying its
// own heads, and the server can only report heads that contain our change
// after it has received and applied that change to its document. So:
//
//   latency = from just before `handle.change(...)` on the device
//             until the device's handle emits "remote-heads" for the SERVER's
//             storage id with heads that include every head the device had
//             right after the change.
//
// That is a full round trip (device -> server apply -> server's sync reply ->
// device), the same shape as a device sync loop waiting for the server's
// answer. It means "applied in the server Repo's memory": the server's
// NodeFSStorageAdapter write is debounced (saveDebounceRate, 100 ms) and not
// fsynced, so it is NOT "durable on the server's disk". Each document has a
// single writer (its device), so the server's heads equal the device's heads
// once the change has arrived; we test containment anyway.
//
// After the timed phase (not timed), unless --no-verify, a fresh "observer"
// Repo connects to the server, loads every document from the server and
// checks that every note whose arrival was acknowledged is there, so the
// signal above is cross-checked against the server's actual content.

import fs from "node:fs"
import { parseArgs } from "node:util"
import { performance } from "node:perf_hooks"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

// ---------------------------------------------------------------- arguments

const { values: opt } = parseArgs({
  options: {
    "server-port": { type: "string", default: process.env.AMR_SERVER_PORT },
    devices: { type: "string", default: process.env.AMR_DEVICES ?? "50" },
    "docs-per-device": {
      type: "string",
      default: process.env.AMR_DOCS_PER_DEVICE ?? "20",
    },
    edits: { type: "string", default: process.env.AMR_EDITS ?? "2000" },
    seconds: { type: "string", default: process.env.AMR_SECONDS ?? "60" },
    "setup-seconds": {
      type: "string",
      default: process.env.AMR_SETUP_SECONDS ?? "60",
    },
    "server-pid": { type: "string", default: process.env.AMR_SERVER_PID },
    "settle-ms": { type: "string", default: process.env.AMR_SETTLE_MS ?? "250" },
    "no-verify": { type: "boolean", default: false },
  },
})

function int(name, min) {
  const raw = opt[name]
  const n = Number(raw)
  if (raw === undefined || !Number.isInteger(n) || n < min) {
    console.error(`bench.mjs: --${name} must be an integer >= ${min} (got ${raw})`)
    process.exit(2)
  }
  return n
}

const PORT = int("server-port", 1)
const DEVICES = int("devices", 1)
const DOCS_PER_DEVICE = int("docs-per-device", 1)
const EDITS = int("edits", 1)
const SETTLE_MS = int("settle-ms", 0)
const SECONDS = Number(opt.seconds)
const SETUP_SECONDS = Number(opt["setup-seconds"])
if (!(SECONDS > 0) || !(SETUP_SECONDS > 0)) {
  console.error("bench.mjs: --seconds and --setup-seconds must be > 0")
  process.exit(2)
}
const SERVER_URL = `ws://127.0.0.1:${PORT}`

const AUTOMERGE_REPO_VERSION = JSON.parse(
  fs.readFileSync(
    new URL(
      "./node_modules/@automerge/automerge-repo/package.json",
      import.meta.url
    ),
    "utf8"
  )
).version

process.on("unhandledRejection", err => {
  console.error("bench.mjs: unhandled rejection:", err)
  process.exit(1)
})

const log = msg => process.stderr.write(`bench.mjs: ${msg}\n`)

// ---------------------------------------------------------------- helpers

function withTimeout(promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms: ${what}`)),
        ms
      )
    }),
  ]).finally(() => clearTimeout(timer))
}

const includesAll = (have, want) => want.every(h => have.includes(h))

/**
 * Resolves once the server (identified by its storage id) has reported heads
 * that include `heads` for this document; see the header comment.
 */
function serverHas(handle, serverStorageId, heads) {
  const known = handle.getSyncInfo(serverStorageId)?.lastHeads
  if (known && includesAll(known, heads)) return Promise.resolve()
  return new Promise(resolve => {
    const onRemoteHeads = ev => {
      if (ev.storageId === serverStorageId && includesAll(ev.heads, heads)) {
        handle.off("remote-heads", onRemoteHeads)
        resolve()
      }
    }
    handle.on("remote-heads", onRemoteHeads)
  })
}

/** A Repo connected to the server; resolves with the server's peer and storage ids. */
async function connectedRepo(peerId) {
  const repo = new Repo({
    network: [new WebSocketClientAdapter(SERVER_URL)],
    peerId,
    // no storage: an ephemeral, in-memory device
  })
  const serverPeerId = await withTimeout(
    new Promise(resolve =>
      repo.networkSubsystem.once("peer", ({ peerId }) => resolve(peerId))
    ),
    10_000,
    `${peerId} connecting to ${SERVER_URL}`
  )
  const serverStorageId = repo.getStorageIdOfPeer(serverPeerId)
  if (!serverStorageId) {
    throw new Error(
      "server advertised no storage id: cannot observe its heads (is it running with storage?)"
    )
  }
  return { repo, serverStorageId }
}

function percentile(sorted, p) {
  // Same rule as bench/src/main.rs: nearest rank on (n - 1) * p.
  return sorted[Math.round((sorted.length - 1) * p)]
}

const round = (x, places) => Number(x.toFixed(places))

/**
 * CPU seconds (user + system) used so far by process `pid`, from
 * /proc/PID/stat (Linux; USER_HZ 100); null when unavailable.
 */
function procCpuSeconds(pid) {
  if (!pid) return null
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // fields[0] is proc(5) field 3 (state); utime is field 14, stime field 15
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

// ---------------------------------------------------------------- setup (not timed)

const NOTE_TEXT = "Replaced the pressure valve; tested: ok." // 40 chars

const setupDeadline = Date.now() + SETUP_SECONDS * 1000
const setupLeft = () => Math.max(1, setupDeadline - Date.now())

log(
  `setup: ${DEVICES} devices x ${DOCS_PER_DEVICE} docs against ${SERVER_URL} (automerge-repo ${AUTOMERGE_REPO_VERSION})`
)
const setupStart = performance.now()

const devices = await withTimeout(
  Promise.all(
    Array.from({ length: DEVICES }, async (_, d) => {
      const name = `device-${d}`
      const { repo, serverStorageId } = await connectedRepo(name)
      const docs = []
      for (let k = 0; k < DOCS_PER_DEVICE; k++) {
        const id = `WO-${d}-${k}`
        const now = Date.now()
        const handle = repo.create({
          id,
          title: `Work order ${id}: boiler service`,
          events: [
            { kind: "created", at: now, by: "dispatcher" },
            { kind: "dispatched", at: now, by: "dispatcher", to: name },
          ],
          notes: [],
        })
        docs.push({ handle, expected: [] })
      }
      await Promise.all(
        docs.map(({ handle }) =>
          serverHas(handle, serverStorageId, handle.heads())
        )
      )
      return { name, repo, serverStorageId, docs, next: 0, latencies: [] }
    })
  ),
  setupLeft(),
  "setup (devices connecting and the server receiving every document)"
)

log(
  `setup done in ${((performance.now() - setupStart) / 1000).toFixed(1)} s: ` +
    `${DEVICES * DOCS_PER_DEVICE} docs on the server`
)

// automerge-repo throttles outgoing sync per document (DocSynchronizer's
// syncDebounceRate, 100 ms, on both device and server): a change within 100 ms
// of that document's previous sync waits out the rest of the window. Setup just
// synced every document, so let those windows close before timing; otherwise
// the first edit of each document would measure the setup's throttle window.
await new Promise(resolve => setTimeout(resolve, SETTLE_MS))

// ---------------------------------------------------------------- timed phase

let started = 0 // edits handed out, across all devices
let capped = false
const timedDeadline = performance.now() + SECONDS * 1000

function claimEdit() {
  if (started >= EDITS) return false
  if (performance.now() >= timedDeadline) {
    capped = true
    return false
  }
  started++
  return true
}

// One edit in flight per device at a time, like a device's sync loop.
async function runDevice(dev) {
  let seq = 0
  while (claimEdit()) {
    const doc = dev.docs[dev.next++ % dev.docs.length]
    const note = {
      id: `${dev.name}-n${seq++}`,
      text: NOTE_TEXT,
      at: Date.now(),
      by: dev.name,
    }
    const t0 = performance.now()
    doc.handle.change(d => {
      d.notes.push(note)
    })
    // Heads right after the change; the server must report heads containing them.
    await serverHas(doc.handle, dev.serverStorageId, doc.handle.heads())
    dev.latencies.push(performance.now() - t0)
    doc.expected.push(note.id)
  }
}

log(`timed: ${EDITS} edits, at most one in flight per device, cap ${SECONDS} s`)
const t0 = performance.now()
const cpu0 = process.cpuUsage()
const serverCpu0 = procCpuSeconds(opt["server-pid"])
await withTimeout(
  Promise.all(devices.map(runDevice)),
  // in-flight edits get a grace period beyond the cap
  SECONDS * 1000 + 10_000,
  "timed phase (an edit was never acknowledged by the server)"
)
const elapsed = (performance.now() - t0) / 1000
const cpu = process.cpuUsage(cpu0)
const serverCpu1 = procCpuSeconds(opt["server-pid"])
const serverCpu =
  serverCpu0 === null || serverCpu1 === null ? null : serverCpu1 - serverCpu0
const loadCpu = (cpu.user + cpu.system) / 1e6
log(
  `timed phase: ${elapsed.toFixed(2)} s wall; CPU used meanwhile: ` +
    `load generator (all ${DEVICES} device Repos) ${loadCpu.toFixed(2)} s, ` +
    `server ${serverCpu === null ? "unknown (no --server-pid)" : serverCpu.toFixed(2) + " s"}`
)

const latencies = devices.flatMap(d => d.latencies).sort((a, b) => a - b)
const done = latencies.length
if (done === 0) {
  console.error("bench.mjs: no edit completed")
  process.exit(1)
}
if (capped) log(`time cap of ${SECONDS} s reached after ${done} of ${EDITS} edits`)

// ---------------------------------------------------------------- verify (not timed)

let verified = null
if (!opt["no-verify"]) {
  const vStart = performance.now()
  const { repo: observer } = await connectedRepo("observer")
  let missing = 0
  const all = devices.flatMap(d => d.docs)
  const BATCH = 100
  for (let i = 0; i < all.length; i += BATCH) {
    await Promise.all(
      all.slice(i, i + BATCH).map(async ({ handle, expected }) => {
        const h = await withTimeout(
          observer.find(handle.url),
          setupLeft() + 30_000,
          `observer loading ${handle.url} from the server`
        )
        const ids = new Set(h.doc().notes.map(n => n.id))
        for (const id of expected) if (!ids.has(id)) missing++
      })
    )
  }
  verified = missing === 0
  log(
    `verify: ${all.length} docs loaded from the server by a fresh observer in ` +
      `${((performance.now() - vStart) / 1000).toFixed(1)} s; ` +
      `${done - missing}/${done} acknowledged notes present`
  )
  observer.shutdown().catch(() => {})
  if (!verified) {
    console.error(`bench.mjs: ${missing} acknowledged notes are missing on the server`)
    process.exit(1)
  }
}

// ---------------------------------------------------------------- report

const result = {
  suite: "automerge-repo",
  devices: DEVICES,
  edits: done,
  syncs_per_s: round(done / elapsed, 1),
  p50_ms: round(percentile(latencies, 0.5), 2),
  p99_ms: round(percentile(latencies, 0.99), 2),
  node: process.version,
  automerge_repo: AUTOMERGE_REPO_VERSION,
  docs: DEVICES * DOCS_PER_DEVICE,
  elapsed_s: round(elapsed, 3),
  capped,
  verified,
  // CPU seconds during the timed phase; server_cpu_s is null without --server-pid
  server_cpu_s: serverCpu === null ? null : round(serverCpu, 2),
  client_cpu_s: round(loadCpu, 2),
}
process.stdout.write(JSON.stringify(result) + "\n")

for (const d of devices) d.repo.shutdown().catch(() => {})
// Client adapters keep retry/keep-alive timers; do not wait for them.
process.exit(0)
