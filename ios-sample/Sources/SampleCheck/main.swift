// Runs the iOS sample's screen model the way its views use it, against the real library and a
// real server (scripts/test-bindings.sh passes the server's URL, an engineer's token and a
// ticket dispatched to them). Online the whole time: the library's background sync carries
// every action to the server. Prints one line per step and "N passed, M failed".
import FieldsyncKit
import TicketsModel
import Foundation
import Observation

var passed = 0  // top-level: main-actor isolated
var failed = 0

@MainActor func check(_ name: String, _ condition: Bool, _ detail: @autoclosure () -> String = "") {
    if condition {
        passed += 1
        print("ok   \(name)")
    } else {
        failed += 1
        print("FAIL \(name) \(detail())")
    }
}

struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Wakes the waiter once, by a change or by the deadline.
@MainActor final class Wake {
    var continuation: CheckedContinuation<Void, Never>?
    var timedOut = false
    func fire() {
        continuation?.resume()
        continuation = nil
    }
}

/// Waits until `condition` holds, re-checking it whenever a model property it reads changes
/// (what SwiftUI does with the same Observation tracking); at most `seconds`.
@MainActor func waitUntil(_ seconds: Double, _ what: String, _ condition: @escaping @MainActor () -> Bool) async throws {
    let wake = Wake()
    let deadline = Task { @MainActor in
        try? await Task.sleep(nanoseconds: UInt64(seconds * 1_000_000_000))
        wake.timedOut = true
        wake.fire()
    }
    defer { deadline.cancel() }
    while !condition() {
        if wake.timedOut { throw TimedOut(what: what) }
        await withCheckedContinuation { continuation in
            wake.continuation = continuation
            let holds = withObservationTracking { condition() } onChange: { Task { @MainActor in wake.fire() } }
            if holds { wake.fire() }
        }
    }
}

@MainActor func screens(url: String, token: String, ticketId: String, dir: String) async throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let server = ServerConfig(url: url, token: token)
    let store = dir + "/ivo.sqlite"
    // The app's KeychainStoreKey makes 32 random bytes once; here, the same without a Keychain.
    var generator = SystemRandomNumberGenerator()
    let storeKey = Data((0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })

    print("step: the store, from an earlier plaintext build to encrypted")
    do {
        // A build without encryption, closed before the next build opens the store (its live
        // streams would otherwise hold it until their tasks end).
        let earlier = try await Fieldsync.signIn(storePath: store, server: server)
        await earlier.close()
    }
    check("a build without encryption left a plaintext store", isPlaintextStore(atPath: store))
    let fieldsync = try await openStore(storePath: store, server: server, storeKey: storeKey)
    check("openStore encrypted it once and opened it with the key", !isPlaintextStore(atPath: store))
    let model = TicketsModel(fieldsync: fieldsync)
    model.start()

    print("step: the list view, online")
    model.connectivityChanged(online: true)
    try await waitUntil(20, "the dispatched ticket in the list") { model.tickets.contains { $0.id == ticketId } }
    check("the background sync brings the dispatched ticket to the list", model.tickets.count == 1, "\(model.tickets)")
    try await waitUntil(20, "online and synced") { model.sync?.online == true && model.sync?.lastSuccessAt != nil }
    check("the status bar shows online and synced", model.sync?.lastError == nil, "\(String(describing: model.sync))")

    print("step: the detail view")
    await model.open(ticketId)
    check("the ticket opens, dispatched", model.selected?.status == .dispatched, "\(String(describing: model.selected))")
    await model.accept()
    check("accept moves it to accepted", model.selected?.status == .accepted)
    await model.accept()
    check(
        "accepting again shows the refusal: \(model.message ?? "-")",
        model.message == "cannot accept: ticket is accepted" && model.selected?.status == .accepted)
    model.message = nil
    await model.startTravel()
    await model.checkIn(at: Location(lat: 52.3702, lon: 4.8952, accuracyM: 8))
    await model.startWork()
    await model.pause()
    check("pause", model.selected?.status == .paused, "\(String(describing: model.selected))")
    await model.resume()
    check("resume", model.selected?.status == .working, "\(String(describing: model.selected))")
    await model.addNote("Replaced the pressure valve; no more leak.")
    await model.addPart(sku: "VALVE-22", qty: 1)
    await model.logTime(minutes: 45, kind: "labour")
    let worked = model.selected
    check(
        "note, part and time are on the ticket",
        worked?.notes.count == 1 && worked?.parts.first?.sku == "VALVE-22" && worked?.timeEntries.first?.minutes == 45,
        "\(String(describing: worked))")
    let stroke = (0...20).map { StrokePoint(x: 0.1 + Float($0) * 0.04, y: 0.5 - Float($0 % 4) * 0.05, t: UInt32($0 * 16)) }
    await model.sign(signer: "Customer", strokes: [stroke])
    await model.complete(summary: "Valve replaced, tested at 1.5 bar.")
    check(
        "travel, check-in, work, signature, complete",
        model.selected?.status == .completed && model.selected?.signature != nil, "\(String(describing: model.selected))")
    check("no alert after the valid actions", model.message == nil, model.message ?? "")
    check("nothing is running", !model.busy)

    print("step: the list and the status bar follow")
    try await waitUntil(20, "the completed row") { model.tickets.contains { $0.id == ticketId && $0.index.status == .completed } }
    check("the list row shows completed", model.tickets.first { $0.id == ticketId }?.index.status == .completed)
    try await waitUntil(30, "the background sync to send it all") {
        !model.tickets.contains { $0.pending } && model.sync?.pendingTickets == 0 && model.sync?.pendingUploads == 0
    }
    check("the background sync sends it all (no pending ticket or upload)", model.sync?.lastError == nil)
    model.stop()
    await fieldsync.close()

    print("step: the scenes and the background refresh share one client")
    let shared = SharedStore { try await openStore(storePath: store, server: server, storeKey: storeKey) }
    let scenes = try await shared.acquire()
    var inUse = false
    do {
        _ = try await openStore(storePath: store, server: server, storeKey: storeKey)
    } catch FieldsyncError.storeInUse {
        inUse = true
    }
    check("a second client of the open store is refused", inUse)
    let refreshed = await backgroundSync(shared)
    let holders = await shared.holders
    check("the refresh syncs on the scenes' client", refreshed && holders == 1)
    check("the scenes still hold it", try await !scenes.list().isEmpty)
    await shared.release()
    // As when the system launches the app for a refresh with no scene: it opens and closes it.
    let alone = await backgroundSync(shared)
    let left = await shared.holders
    check("a refresh with no scene up opens and closes it", alone && left == 0)
    let free = try await openStore(storePath: store, server: server, storeKey: storeKey)
    await free.close()
    check("after the last release the store is free", true)
}

let args = CommandLine.arguments
guard args.count == 5 else {
    print("usage: ios-sample-check SERVER_URL ENGINEER_TOKEN TICKET_ID WORK_DIR")
    exit(2)
}
do {
    try await screens(url: args[1], token: args[2], ticketId: args[3], dir: args[4])
} catch {
    failed += 1
    print("FAIL stopped: \(error)")
}
print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
