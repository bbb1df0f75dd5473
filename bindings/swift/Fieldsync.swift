// The idiomatic Swift face of fieldsync, compiled with the generated bindings
// (fieldsync_ffi.swift, made by uniffi-bindgen, never committed) into one module, FieldsyncKit:
// `async throws` functions that never run on the caller's actor, `AsyncStream`s over the
// library's listeners, typed errors.
//
// Every failure is a `FieldsyncError` (below): lowerCamelCase cases, `LocalizedError` with the
// readable reason. The generated layer (`FieldsyncClient`, its listeners, `FieldsyncFfiError`)
// is this module's implementation, not the app's face (docs/adr/0027).
import Foundation

#if canImport(os)
import os
#endif

/// Why a fieldsync call failed. The readable reason is `errorDescription` (`LocalizedError`) and
/// `reason`: "cannot accept: ticket is accepted", "sign in again".
public enum FieldsyncError: Error, LocalizedError, Equatable, Sendable {
    /// The workflow refused the action ("cannot accept: ticket is accepted").
    case refused(reason: String)
    /// The input was malformed (a GPS fix off the planet, an empty note).
    case invalidInput(reason: String)
    /// No such ticket on this device.
    case notFound(id: String)
    /// The ticket is set aside (its data could not be read); the rest work on.
    case setAside(id: String)
    /// The device is offline.
    case offline
    /// The server refused the token: ask the user to sign in again.
    case unauthorized
    /// The token belongs to another user than this store's.
    case wrongAccount(reason: String)
    /// The server could not be reached, or the connection broke.
    case network(reason: String)
    /// The server's certificate is not trusted (the platform's trust store decides).
    case tls(reason: String)
    /// A bug inside the library (a panic caught and reported).
    case `internal`(reason: String)
    /// The server answered with an error.
    case server(reason: String)
    /// The store key is wrong or missing; the store was left as it was.
    case wrongKey(reason: String)
    /// The service report could not be made.
    case report(reason: String)
    /// The store (SQLite, files) failed.
    case storage(reason: String)
    /// This process already has the store open: share that client, or close it first.
    case storeInUse(reason: String)
    /// The client is closed.
    case closed
    /// The call was cancelled.
    case cancelled

    /// The people-facing text of the failure.
    public var reason: String {
        switch self {
        case .refused(let reason), .invalidInput(let reason), .network(let reason), .server(let reason),
            .wrongKey(let reason), .report(let reason), .storage(let reason), .wrongAccount(let reason),
            .internal(let reason), .storeInUse(let reason):
            return reason
        case .closed: return "the client is closed"
        case .cancelled: return "cancelled"
        case .tls(let reason): return "the server's certificate is not trusted: \(reason)"
        case .notFound(let id): return "ticket \(id) not found"
        case .setAside(let id): return "ticket \(id) is set aside"
        case .offline: return "offline"
        case .unauthorized: return "sign in again"
        }
    }

    public var errorDescription: String? { reason }

    /// The same failure as the layer below reports it (its cases one for one).
    init(_ error: FieldsyncFfiError) {
        switch error {
        case .Refused(let reason): self = .refused(reason: reason)
        case .InvalidInput(let reason): self = .invalidInput(reason: reason)
        case .NotFound(let id): self = .notFound(id: id)
        case .SetAside(let id): self = .setAside(id: id)
        case .Offline: self = .offline
        case .Unauthorized: self = .unauthorized
        case .WrongAccount(let reason): self = .wrongAccount(reason: reason)
        case .Network(let reason): self = .network(reason: reason)
        case .Tls(let reason): self = .tls(reason: reason)
        case .Internal(let reason): self = .internal(reason: reason)
        case .Server(let reason): self = .server(reason: reason)
        case .WrongKey(let reason): self = .wrongKey(reason: reason)
        case .Report(let reason): self = .report(reason: reason)
        case .Storage(let reason): self = .storage(reason: reason)
        case .StoreInUse(let reason): self = .storeInUse(reason: reason)
        case .Closed: self = .closed
        case .Cancelled: self = .cancelled
        }
    }
}

/// Runs a call of the layer below with its errors as `FieldsyncError`.
func bridged<T>(_ call: () throws -> T) throws -> T {
    do {
        return try call()
    } catch let error as FieldsyncFfiError {
        throw FieldsyncError(error)
    }
}

/// Runs an async call of the layer below with its errors as `FieldsyncError`.
func bridged<T>(_ call: () async throws -> T) async throws -> T {
    do {
        return try await call()
    } catch let error as FieldsyncFfiError {
        throw FieldsyncError(error)
    }
}

/// A signed-in engineer's tickets on this device. Actions are on disk when they return and
/// sync in the background once `setOnline(true)` says the device is online.
///
/// The methods are `nonisolated async`: called from the main actor they run on Swift's
/// global executor, so the few milliseconds of SQLite never block the UI.
///
/// One client per store per process: opening a store this process already has open throws
/// `FieldsyncError.storeInUse`; share the one client (the scenes and a `BGAppRefreshTask`
/// handler alike), or `await close()` it first.
public final class Fieldsync: FieldsyncApi {
    /// The generated client: the layer below, not the app's (docs/adr/0027).
    let client: FieldsyncClient
    private let streams = OpenStreams()

    private init(client: FieldsyncClient) {
        self.client = client
    }

    /// Opens (or creates) the store at `storePath` for `identity`. `storeKey`: the store's
    /// 32-byte encryption key from the Keychain, or nil for a plaintext store; a wrong or
    /// missing key throws `FieldsyncError.wrongKey` and changes nothing. `transport`: how
    /// requests reach the server; URLSession by default (docs/adr/0015).
    public static func open(
        storePath: String, identity: Identity, server: ServerConfig, storeKey: Data? = nil,
        transport: HttpTransport = URLSessionTransport.shared
    ) async throws -> Fieldsync {
        Logging.installDefault()
        return Fieldsync(
            client: try bridged {
                try FieldsyncClient.open(
                    storePath: storePath, identity: identity, server: server, storeKey: storeKey, transport: transport)
            })
    }

    /// A client on a fresh store of its own in `tempDir`, deleted when the client is freed,
    /// with `tickets` on it, dispatched to `identity`; no server (a sync fails as offline does,
    /// "no server"). For an app's unit tests: the real store, workflow, queries and streams,
    /// without a server or a fake (docs/adr/0027).
    public static func inMemory(
        tickets: [SeedTicket] = [],
        identity: Identity = Identity(userId: "tester", deviceId: "test-device", role: .engineer),
        tempDir: String = NSTemporaryDirectory()
    ) async throws -> Fieldsync {
        Logging.installDefault()
        return Fieldsync(
            client: try bridged { try FieldsyncClient.openTemporary(tempDir: tempDir, identity: identity, tickets: tickets) })
    }

    /// Asks the server whose token this is (the identity `open` needs).
    public static func whoAmI(server: ServerConfig, transport: HttpTransport = URLSessionTransport.shared) async throws
        -> Identity
    {
        try await bridged { try await FieldsyncKit.whoAmI(server: server, transport: transport) }
    }

    /// Encrypts the plaintext store at `storePath` with `storeKey`, in place, once; the store
    /// must not be open. Crash-safe (docs/adr/0011).
    public static func encryptExistingStore(storePath: String, storeKey: Data) async throws {
        try bridged { try FieldsyncKit.encryptExistingStore(storePath: storePath, storeKey: storeKey) }
    }

    /// First sign-in: asks the server whose token this is, then opens the store.
    public static func signIn(
        storePath: String, server: ServerConfig, storeKey: Data? = nil,
        transport: HttpTransport = URLSessionTransport.shared
    ) async throws -> Fieldsync {
        try await open(
            storePath: storePath, identity: try await Fieldsync.whoAmI(server: server, transport: transport), server: server,
            storeKey: storeKey, transport: transport)
    }

    /// The tickets on this device: the current list first, then the list after every change.
    /// Only the newest list waits for a slow reader. Stopping the iteration (or cancelling its
    /// task) cancels the subscription; `close()` ends it.
    public var tickets: AsyncStream<[TicketSummary]> {
        observed(.bufferingNewest(1)) { continuation in
            let handle = try client.subscribeTickets(listener: TicketsRelay { continuation.yield($0) })
            return { handle.cancel() }
        }
    }

    /// The sync status: the current one first (a new reader gets it at once), then every change
    /// (newest kept for a slow reader). `lastErrorKind` says what went wrong without reading
    /// text; `needsSignIn` says when to ask for a new token. `currentSyncStatus` is the value now.
    public var syncStatus: AsyncStream<SyncStatus> {
        observed(.bufferingNewest(1)) { continuation in
            let handle = try client.subscribeSyncStatus(listener: SyncStatusRelay { continuation.yield($0) })
            return { handle.cancel() }
        }
    }

    /// One ticket's full view: now, then after every change to it (changes to other tickets do
    /// not wake it); nil when it is not on this device (evicted: reassigned or deleted).
    public func observeTicket(_ ticketId: String) -> AsyncStream<Ticket?> {
        observed(.bufferingNewest(1)) { continuation in
            let observation = client.observeTicket(ticketId: ticketId, observer: TicketRelay { continuation.yield($0) })
            return { observation.cancel() }
        }
    }

    /// A live query (filter, sort, limit): its result now, then whenever a change alters it,
    /// with the ids that changed (`changedIds`). Every update is kept for a slow reader, so no
    /// changed id is lost.
    public func observeTickets(_ query: TicketQuery) -> AsyncStream<TicketsUpdate> {
        observed(.unbounded) { continuation in
            let observation = client.observeTickets(query: query, observer: TicketsUpdateRelay { continuation.yield($0) })
            return { observation.cancel() }
        }
    }

    /// How many streams are being read now (0 after `close()`).
    public var openStreams: Int { streams.count }

    /// Ends every stream handed out (their loops finish), stops a sync under way and background
    /// sync, waits for an action under way (milliseconds) and releases the store: it may be
    /// opened again as soon as this returns. Later calls throw `FieldsyncError.closed`; streams
    /// asked for afterwards end at once. Idempotent.
    public func close() async {
        streams.closeAll()
        // Fails only if the library cannot start its threads: then nothing is running anyway.
        try? await client.shutdown()
    }

    /// A stream over a library subscription: `subscribe` starts it and returns how to stop it;
    /// it stops when the reader stops iterating, its task is cancelled, or `close()` is called.
    private func observed<T: Sendable>(
        _ buffering: AsyncStream<T>.Continuation.BufferingPolicy,
        _ subscribe: (AsyncStream<T>.Continuation) throws -> @Sendable () -> Void
    ) -> AsyncStream<T> {
        AsyncStream(bufferingPolicy: buffering) { continuation in
            if streams.isClosed {
                continuation.finish()
                return
            }
            let stop: @Sendable () -> Void
            do {
                stop = try subscribe(continuation)
            } catch {
                // Only if the library cannot start its threads: the stream ends at once.
                continuation.finish()
                return
            }
            let id = streams.reserve()
            let streams = self.streams
            continuation.onTermination = { _ in
                streams.remove(id)
                stop()
            }
            // Registered after onTermination is set: a close() from now on finishes it.
            if !streams.add(id, finish: { continuation.finish() }) { continuation.finish() }
        }
    }

    public func list(_ filter: ListFilter) async throws -> [TicketSummary] {
        try bridged { try client.list(filter: filter) }
    }
    /// The tickets `query` selects, in its order, at most its limit, once.
    public func query(_ query: TicketQuery) async throws -> [TicketSummary] { try bridged { try client.query(query: query) } }
    public func get(_ ticketId: String) async throws -> Ticket { try bridged { try client.get(ticketId: ticketId) } }
    public func counts() async throws -> [StatusCount] { try bridged { try client.counts() } }

    /// Runs on the library's blocking pool (the generated call is `async`).
    public func perform(_ ticketId: String, _ command: Command) async throws {
        try await bridged { try await client.perform(ticketId: ticketId, command: command) }
    }

    // Compile-time proof that the generated `perform` is `async` (an async export, docs/adr/0032):
    // a blocking one would still compile in the call above (`await` on it is only a warning) and
    // hold the caller's thread. Overload resolution picks the exact match: for a synchronous
    // `perform` that is the second `performProof`, whose result is a `PerformIsBlocking`, and this
    // stops compiling (seen so). Never called.
    private struct PerformIsAsync {}
    private static func performProof(_: (FieldsyncClient) -> (String, Command) async throws -> Void) -> PerformIsAsync {
        PerformIsAsync()
    }
    private struct PerformIsBlocking {}
    private static func performProof(_: (FieldsyncClient) -> (String, Command) throws -> Void) -> PerformIsBlocking {
        PerformIsBlocking()
    }
    private static func generatedPerformIsAsync() {
        let proof = performProof(FieldsyncClient.perform)
        let _: PerformIsAsync = proof
    }

    public func captureSignature(_ ticketId: String, signer: String, strokes: [[StrokePoint]]) async throws -> Signature {
        try bridged { try client.captureSignature(ticketId: ticketId, signer: signer, strokes: strokes) }
    }

    /// What the customer is shown before signing: the work, parts, time and photos, and `text`,
    /// exactly what a signature captured now binds (its `summarySha256` is `sha256`).
    public func jobSummary(_ ticketId: String) async throws -> JobSummary {
        try bridged { try client.jobSummary(ticketId: ticketId) }
    }

    /// A photo (`Photo.sha256`), its thumbnail (`thumbnailSha256`) or a signature PNG
    /// (`Signature.pngSha256`) as a file path for `AsyncImage(url: URL(fileURLWithPath:))`;
    /// nil when this device does not have it.
    public func mediaFile(_ sha256: String) async throws -> String? {
        try bridged { try client.mediaFile(sha256: sha256) }
    }

    /// Processes the photo (a file, or `NewPhoto(bytes:)` from the photo picker) on the
    /// library's threads and adds it to the ticket.
    public func addPhoto(_ ticketId: String, _ photo: NewPhoto) async throws -> Photo {
        try await bridged { try await client.addPhoto(ticketId: ticketId, photo: photo) }
    }

    /// Syncs now, even when offline was reported.
    /// Writes the ticket's service report (PDF) offline and returns its path: in
    /// `options.outDir`, else in a `reports` folder beside the store. iOS keeps system fonts
    /// out of reach: pass a CJK font the app ships (`options.fontPath`) for Chinese text.
    public func serviceReport(_ ticketId: String, options: ReportOptions) async throws -> String {
        try await bridged { try await client.serviceReport(ticketId: ticketId, options: options) }
    }

    /// Cancelling the calling task stops the sync at its next step (`CancellationError`); what
    /// it had applied stays, the rest goes with the next sync.
    public func syncNow() async throws -> SyncReport {
        let cancellation = Cancellation()
        do {
            return try await withTaskCancellationHandler {
                try await bridged { try await client.syncNow(cancellation: cancellation) }
            } onCancel: {
                cancellation.cancel()
            }
        } catch FieldsyncError.cancelled {
            throw CancellationError()
        }
    }

    /// One sync bounded by `timeout` for a `BGAppRefreshTask`: `.synced` is
    /// `setTaskCompleted(success: true)`; `.retry` and `.failed` are `success: false` (after
    /// `.retry`, schedule the next request soon; `.failed` with `needsSignIn`, ask the user to
    /// sign in). Call it from the task's handler and cancel its Swift task from the
    /// `expirationHandler`: it stops at once. Never throws.
    public func syncOnce(timeout: Duration) async -> SyncOutcome {
        let cancellation = Cancellation()
        let (seconds, attoseconds) = timeout.components
        let milliseconds = UInt64(max(0, seconds)) * 1000 + UInt64(max(0, attoseconds) / 1_000_000_000_000_000)
        return await withTaskCancellationHandler {
            await client.syncOnce(timeoutMs: milliseconds, cancellation: cancellation)
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// The connectivity callback (`NWPathMonitor`): going online syncs at once.
    public func setOnline(_ online: Bool) { client.setOnline(online: online) }

    /// The sync status now.
    public var currentSyncStatus: SyncStatus { client.syncStatus() }
}

extension Fieldsync {
    /// Sends the library's log lines at `level` and above to `sink` (level, target such as
    /// `fieldsync::sync`, text), instead of the default (OSLog on Apple platforms, standard
    /// error elsewhere). Lines at `.info` and above carry no personal data. Called on the
    /// library's threads: hand the line on and return.
    public static func setLogger(level: LogLevel, _ sink: @escaping @Sendable (LogLevel, String, String) -> Void) {
        Logging.choose()
        FieldsyncKit.setLogger(level: level, logger: LoggerRelay(sink))
    }

    /// No log lines at all (not even the default).
    public static func clearLogger() {
        Logging.choose()
        FieldsyncKit.clearLogger()
    }
}

/// Whether the app chose a logger; until it does, the first open installs the default.
private enum Logging {
    private static let state = ChosenFlag()

    static func choose() { _ = state.set() }

    /// OSLog (subsystem `dev.fieldsync`, category the target) where there is one, else a line
    /// on standard error; `.info` and above.
    static func installDefault() {
        guard state.set() else { return }
        FieldsyncKit.setLogger(level: .info, logger: LoggerRelay { level, target, message in
            #if canImport(os)
            let type: OSLogType = switch level {
            case .error: .fault
            case .warn: .error
            case .info: .info
            case .debug, .trace: .debug
            }
            os.Logger(subsystem: "dev.fieldsync", category: target).log(level: type, "\(message, privacy: .public)")
            #else
            FileHandle.standardError.write(Data("fieldsync \(level) \(target): \(message)\n".utf8))
            #endif
        })
    }
}

/// Set once.
private final class ChosenFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var chosen = false

    /// Sets it; true when this call did.
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if chosen { return false }
        chosen = true
        return true
    }
}

/// Hands the library's log lines to a closure; called on the library's threads.
private final class LoggerRelay: FieldsyncLogger, Sendable {
    private let sink: @Sendable (LogLevel, String, String) -> Void
    init(_ sink: @escaping @Sendable (LogLevel, String, String) -> Void) { self.sink = sink }
    func log(level: LogLevel, target: String, message: String) { sink(level, target, message) }
}

/// Hands the library's ticket lists to a stream; called on the library's threads, in order.
private final class TicketsRelay: TicketsListener, Sendable {
    private let send: @Sendable ([TicketSummary]) -> Void
    init(_ send: @escaping @Sendable ([TicketSummary]) -> Void) { self.send = send }
    func onTickets(tickets: [TicketSummary]) { send(tickets) }
}

/// Hands the library's sync statuses to a stream; called on the library's threads, in order.
private final class SyncStatusRelay: SyncStatusListener, Sendable {
    private let send: @Sendable (SyncStatus) -> Void
    init(_ send: @escaping @Sendable (SyncStatus) -> Void) { self.send = send }
    func onStatus(status: SyncStatus) { send(status) }
}

/// Hands the library's views of one ticket to a stream; called on the library's thread, in order.
private final class TicketRelay: TicketObserver, Sendable {
    private let send: @Sendable (Ticket?) -> Void
    init(_ send: @escaping @Sendable (Ticket?) -> Void) { self.send = send }
    func onTicket(ticket: Ticket?) { send(ticket) }
}

/// Hands a query's updates to a stream; called on the library's thread, in order.
private final class TicketsUpdateRelay: TicketsObserver, Sendable {
    private let send: @Sendable (TicketsUpdate) -> Void
    init(_ send: @escaping @Sendable (TicketsUpdate) -> Void) { self.send = send }
    func onTickets(update: TicketsUpdate) { send(update) }
}

/// The streams being read, each with how to finish it, so that `close()` ends them all.
private final class OpenStreams: @unchecked Sendable {
    private let lock = NSLock()
    private var next: UInt64 = 0
    private var finishers: [UInt64: @Sendable () -> Void] = [:]
    private var closed = false

    func reserve() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        next += 1
        return next
    }

    /// Records a stream's finisher; false once closed (the caller finishes it).
    func add(_ id: UInt64, finish: @escaping @Sendable () -> Void) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if closed { return false }
        finishers[id] = finish
        return true
    }

    func remove(_ id: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        finishers.removeValue(forKey: id)
    }

    var isClosed: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return finishers.count
    }

    /// Finishes every stream, outside the lock (finishing runs their termination handlers).
    func closeAll() {
        lock.lock()
        closed = true
        let all = Array(finishers.values)
        finishers.removeAll()
        lock.unlock()
        for finish in all { finish() }
    }
}
