// What an app's own unit test looks like, without a server: a screen's model written against
// `FieldsyncApi`, tested on `Fieldsync.inMemory(...)`, the real library on a temporary store
// (docs/adr/0027). The lines between `// readme:begin` and `// readme:end` are the README's
// "Test your app without a server" snippet for Swift, word for word; `check` is this
// program's assertion (XCTAssert in an app's tests).
import FieldsyncKit
import Foundation

// readme:begin
/// The app's code: it takes any `FieldsyncApi` (the app passes its `Fieldsync`).
final class JobScreen: Sendable {
    let fieldsync: any FieldsyncApi
    init(_ fieldsync: any FieldsyncApi) { self.fieldsync = fieldsync }

    /// Accepts the job; the text to show when that is refused.
    func acceptTapped(_ ticketId: String) async -> String? {
        do {
            try await fieldsync.accept(ticketId)
            return nil
        } catch {
            return error.localizedDescription
        }
    }
}

/// The app's unit test: the real store and workflow, no server.
func acceptingTwiceShowsWhy() async throws {
    let fieldsync = try await Fieldsync.inMemory(tickets: [
        SeedTicket(title: "Boiler leaks", customer: "Acme Bakery", address: "Main St 1")
    ])
    let screen = JobScreen(fieldsync)
    let ticketId = try await fieldsync.list()[0].id
    check("the first tap accepts", await screen.acceptTapped(ticketId) == nil)
    let shown = await screen.acceptTapped(ticketId)
    check("the second says why", shown == "cannot accept: ticket is accepted")
    await fieldsync.close()
}
// readme:end

/// The rest of what an app's tests get from an in-memory client: observation, typed and
/// readable errors, no server, and the generated layer out of sight.
func inMemory() async throws {
    print("step: an app's unit test, in memory")
    try await acceptingTwiceShowsWhy()
    let fieldsync = try await Fieldsync.inMemory(tickets: [
        SeedTicket(title: "Boiler leaks", customer: "Acme Bakery", address: "Main St 1", checklist: ["Valve"]),
        SeedTicket(title: "No hot water", customer: "Baker Brothers", address: "Side St 2"),
    ])
    let api: any FieldsyncApi = fieldsync
    let listed = try await api.list()
    check("the in-memory store has its two tickets, dispatched, nothing pending",
        listed.count == 2 && listed.allSatisfy { $0.index.status == .dispatched && !$0.pending }, "\(listed)")
    let ticketId = listed.first { $0.index.title == "Boiler leaks" }!.id
    let views = Recorder<Ticket?>()
    let watching = Task { for await view in api.observeTicket(ticketId) { await views.add(view) } }
    try await api.accept(ticketId)
    try await api.startTravel(ticketId)
    let travelling = try await within(10, "the observed ticket to be travelling") {
        await views.first { $0?.status == .travelling }
    }
    check("observeTicket follows the actions", travelling?.checklist.first?.item == "Valve", "\(String(describing: travelling))")
    do {
        try await api.accept(ticketId)
        check("accepting a travelling ticket is refused", false, "no error")
    } catch let error as FieldsyncError {
        guard case .refused(let reason) = error else {
            check("the error is a lowerCamelCase case", false, "\(error)")
            return
        }
        check("the error is a lowerCamelCase case: .refused(\"\(reason)\")", reason.hasPrefix("cannot accept: ticket is"))
        let described = (error as LocalizedError).errorDescription ?? ""
        check("and a LocalizedError whose errorDescription is the reason: \(described)", described == reason)
        check("which localizedDescription shows", error.localizedDescription == described, error.localizedDescription)
    }
    do {
        _ = try await api.syncNow()
        check("a sync without a server fails", false, "no error")
    } catch FieldsyncError.network(let reason) {
        check("a sync without a server is a network failure: \(reason)", reason.contains("no server"))
    }
    check("the status says so, typed", api.currentSyncStatus.lastErrorKind == .network, "\(api.currentSyncStatus)")
    check("the actions wait, pending", try await api.list().first { $0.id == ticketId }?.pending == true)
    watching.cancel()
    await api.close()
    await expectError("the in-memory client is closed like any other", {
        if case .closed = $0 { return true } else { return false }
    }) { _ = try await api.list() }
}

/// A server whose certificate the platform does not trust: this run's system bundle lacks the
/// test's CA. A typed TLS error, at once: not a hang, not a crash.
func untrusted(url: String, token: String, dir: String) async throws {
    print("step: a server whose CA the platform does not trust")
    let server = ServerConfig(url: url, token: token)
    await expectError("signing in ends in a TLS error", {
        if case .tls = $0 { return true } else { return false }
    }) { _ = try await Fieldsync.whoAmI(server: server) }
    let identity = Identity(userId: "untrusted", deviceId: "untrusted-device", role: .engineer)
    let fieldsync = try await Fieldsync.open(storePath: dir + "/untrusted.sqlite", identity: identity, server: server)
    let started = Date()
    await expectError("syncNow ends in a TLS error", {
        if case .tls = $0 { return true } else { return false }
    }) { _ = try await fieldsync.syncNow() }
    let seconds = Date().timeIntervalSince(started)
    check("at once, not after a timeout (\(String(format: "%.2f", seconds)) s)", seconds < 5)
    check("the sync status says TLS, typed", fieldsync.currentSyncStatus.lastErrorKind == .tls,
        "\(fieldsync.currentSyncStatus)")
    await fieldsync.close()
}
