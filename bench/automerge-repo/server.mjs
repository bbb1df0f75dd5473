// automerge-repo sync server for the reference benchmark.
//
// Configured like the upstream automerge-repo-sync-server: one Repo with a
// NodeFSStorageAdapter and a NodeWSServerAdapter, and `sharePolicy: false`
// ("we only sync documents they already know about and can ask for by ID").
// The only differences are that it binds 127.0.0.1 only, takes port 0 by
// default, has no HTTP/express layer, and prints a machine-readable ready line.
//
// Usage: node server.mjs [--dir DIR] [--port N]
//   env: AMR_DATA_DIR, AMR_PORT
// Prints exactly one JSON line on stdout when listening:
//   {"ready":true,"port":N,"storage_id":"..."}
// Stops on SIGTERM, SIGINT, or when stdin closes (so it dies with its parent).

import fs from "node:fs"
import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: args } = parseArgs({
  options: {
    dir: { type: "string", default: process.env.AMR_DATA_DIR },
    port: { type: "string", default: process.env.AMR_PORT ?? "0" },
  },
})

if (!args.dir) {
  console.error("server.mjs: --dir (or AMR_DATA_DIR) is required")
  process.exit(2)
}
fs.mkdirSync(args.dir, { recursive: true })

const port = Number.parseInt(args.port, 10)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.mjs: bad --port ${args.port}`)
  process.exit(2)
}

const wss = new WebSocketServer({ host: "127.0.0.1", port })
wss.on("error", err => {
  console.error("server.mjs: websocket server error:", err)
  process.exit(1)
})

const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(args.dir),
  peerId: "bench-sync-server",
  // As upstream's sync server: do not announce documents to peers; peers
  // sync the documents they already have or request by id.
  sharePolicy: async () => false,
})

let stopping = false
async function stop(code) {
  if (stopping) return
  stopping = true
  // Hard bound on shutdown in case a flush hangs.
  setTimeout(() => process.exit(code), 5000).unref()
  try {
    wss.close()
    // Like repo.shutdown() (disconnect, then flush docs to storage), but only
    // flushes ready documents: flush() throws on a handle still loading, which
    // happens when we are stopped in the middle of a run.
    repo.networkSubsystem.disconnect()
    const ready = Object.values(repo.handles).filter(h => h.isReady())
    await repo.flush(ready.map(h => h.documentId))
  } catch (err) {
    console.error("server.mjs: error during shutdown:", err)
    code = code || 1
  }
  const cpu = process.cpuUsage()
  console.error(
    `server.mjs: stopped; used ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU in total`
  )
  process.exit(code)
}

process.on("SIGTERM", () => stop(0))
process.on("SIGINT", () => stop(0))
process.stdin.on("end", () => stop(0))
process.stdin.on("error", () => stop(0))
process.stdin.resume()

wss.on("listening", async () => {
  const { port: bound } = wss.address()
  const storageId = await repo.storageId()
  process.stdout.write(
    JSON.stringify({ ready: true, port: bound, storage_id: storageId }) + "\n"
  )
})
