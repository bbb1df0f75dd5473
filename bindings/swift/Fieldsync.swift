// The idiomatic Swift face of fieldsync, compiled with the generated bindings
// (fieldsync_ffi.swift, made by uniffi-bindgen, never committed) into one module, FieldsyncKit:
// `async throws` functions that never run on the caller's actor, `AsyncStream`s over the
// library's listeners, typed errors.
//
// Every failure is a `FieldsyncError` (generated): .Refused, .InvalidInput, .NotFound,
// .SetAside, .Offline, .Unauthorized, .WrongAccount, .Network, .Tls, .Internal, .Server,
// .WrongKey, .Report, .Storage.
import Foundation

extension FieldsyncError {
    /// The people-facing text of a fieldsync failure ("cannot accept: ticket is accepted").
    public var reason: String {
        switch self {
        case .Refused(let reason), .InvalidInput(let reason), .Network(let reason), .Server(let reason),
            .WrongKey(let reason), .Report(let reason), .Storage(let reason), .WrongAccount(let reason),
            .Internal(let reason):
            return reason
        case .Tls(let reason): return "the server's certificate is not trusted: \(reason)"
        case .NotFound(let id): return "ticket \(id) not found"
        case .SetAside(let id): return "ticket \(id) is set aside"
        case .Offline: return "offline"
        case .Unauthorized: return "sign in again"
        }
    }
}

/// A signed-in engineer's tickets on this device. Actions are on disk when they return and
/// sync in the background once `setOnline(true)` says the device is online.
///
/// The methods are `nonisolated async`: called from the main actor they run on Swift's
/// global executor, so the few milliseconds of SQLite never block the UI.
public final class Fieldsync: Sendable {
    /// The generated client, for anything this layer does not wrap.
    public let client: FieldsyncClient

    private init(client: FieldsyncClient) {
        self.client = client
    }

    /// Opens (or creates) the store at `storePath` for `identity`. `storeKey`: the store's
    /// 32-byte encryption key from the Keychain, or nil for a plaintext store; a wrong or
    /// missing key throws `FieldsyncError.WrongKey` and changes nothing. `transport`: how
    /// requests reach the server; URLSession by default (docs/adr/0015).
    public static func open(
        storePath: String, identity: Identity, server: ServerConfig, storeKey: Data? = nil,
        transport: HttpTransport = URLSessionTransport()
    ) async throws -> Fieldsync {
        Fieldsync(
            client: try FieldsyncClient.open(
                storePath: storePath, identity: identity, server: server, storeKey: storeKey, transport: transport))
    }

    /// First sign-in: asks the server whose token this is, then opens the store.
    public static func signIn(
        storePath: String, server: ServerConfig, storeKey: Data? = nil,
        transport: HttpTransport = URLSessionTransport()
    ) async throws -> Fieldsync {
        try await open(
            storePath: storePath, identity: try await whoAmI(server: server, transport: transport), server: server,
            storeKey: storeKey, transport: transport)
    }

    /// The tickets on this device: the current list first, then the list after every change.
    /// Only the newest list waits for a slow reader. Stopping the iteration (or cancelling its
    /// task) cancels the subscription.
    public var tickets: AsyncStream<[TicketSummary]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            do {
                let handle = try client.subscribeTickets(listener: TicketsRelay { continuation.yield($0) })
                continuation.onTermination = { _ in handle.cancel() }
            } catch {
                // Only if the library cannot start its threads: the stream ends at once.
                continuation.finish()
            }
        }
    }

    /// The sync status: the current one first, then every change (newest kept for a slow reader).
    public var syncStatus: AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            do {
                let handle = try client.subscribeSyncStatus(listener: SyncStatusRelay { continuation.yield($0) })
                continuation.onTermination = { _ in handle.cancel() }
            } catch {
                continuation.finish()
            }
        }
    }

    public func list(_ filter: ListFilter = ListFilter()) async throws -> [TicketSummary] {
        try client.list(filter: filter)
    }
    public func get(_ ticketId: String) async throws -> Ticket { try client.get(ticketId: ticketId) }
    public func counts() async throws -> [StatusCount] { try client.counts() }

    public func accept(_ ticketId: String) async throws { try client.accept(ticketId: ticketId) }
    public func reject(_ ticketId: String, reason: String) async throws {
        try client.reject(ticketId: ticketId, reason: reason)
    }
    public func startTravel(_ ticketId: String) async throws { try client.startTravel(ticketId: ticketId) }
    /// Starts travelling and shares an ETA (UTC ms) with the customer's tracking page.
    public func startTravel(_ ticketId: String, etaMillis: Int64) async throws {
        try client.startTravelWithEta(ticketId: ticketId, eta: etaMillis)
    }
    public func checkIn(_ ticketId: String, at location: Location) async throws {
        try client.checkIn(ticketId: ticketId, location: location)
    }
    public func startWork(_ ticketId: String) async throws { try client.startWork(ticketId: ticketId) }
    public func pause(_ ticketId: String) async throws { try client.pause(ticketId: ticketId) }
    public func resume(_ ticketId: String) async throws { try client.resume(ticketId: ticketId) }
    public func addNote(_ ticketId: String, _ text: String) async throws {
        try client.addNote(ticketId: ticketId, text: text)
    }
    /// A note the customer sees on the tracking page (an answer to their message).
    public func addPublicNote(_ ticketId: String, _ text: String) async throws {
        try client.addPublicNote(ticketId: ticketId, text: text)
    }
    public func addPart(_ ticketId: String, sku: String, qty: UInt32) async throws {
        try client.addPart(ticketId: ticketId, sku: sku, qty: qty)
    }
    public func logTime(_ ticketId: String, minutes: UInt32, kind: String) async throws {
        try client.logTime(ticketId: ticketId, minutes: minutes, kind: kind)
    }
    public func setChecklistItem(_ ticketId: String, _ item: String, done: Bool) async throws {
        try client.setChecklistItem(ticketId: ticketId, item: item, done: done)
    }
    public func recordFeedback(_ ticketId: String, rating: UInt8, comment: String) async throws {
        try client.recordFeedback(ticketId: ticketId, rating: rating, comment: comment)
    }
    public func complete(_ ticketId: String, summary: String) async throws {
        try client.complete(ticketId: ticketId, summary: summary)
    }
    public func captureSignature(_ ticketId: String, signer: String, strokes: [[StrokePoint]]) async throws -> Signature {
        try client.captureSignature(ticketId: ticketId, signer: signer, strokes: strokes)
    }

    /// Processes the photo file on the library's threads and adds it to the ticket.
    public func addPhoto(_ ticketId: String, _ photo: NewPhoto) async throws -> Photo {
        try await client.addPhoto(ticketId: ticketId, photo: photo)
    }

    /// Syncs now, even when offline was reported.
    /// Writes the ticket's service report (PDF) offline and returns its path: in
    /// `options.outDir`, else in a `reports` folder beside the store. iOS keeps system fonts
    /// out of reach: pass a CJK font the app ships (`options.fontPath`) for Chinese text.
    public func serviceReport(_ ticketId: String, options: ReportOptions = ReportOptions()) async throws -> String {
        try await client.serviceReport(ticketId: ticketId, options: options)
    }

    public func syncNow() async throws -> SyncReport { try await client.syncNow() }

    /// The connectivity callback (`NWPathMonitor`): going online syncs at once.
    public func setOnline(_ online: Bool) { client.setOnline(online: online) }

    /// The sync status now.
    public var currentSyncStatus: SyncStatus { client.syncStatus() }
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
