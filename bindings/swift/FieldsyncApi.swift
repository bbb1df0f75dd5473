// What an app uses of a fieldsync client, as a protocol: code written against `FieldsyncApi`
// (a view model, a `BGAppRefreshTask` handler) takes the real client in the app and, in the
// app's own unit tests, the same client opened on a temporary store with
// `Fieldsync.inMemory(...)` (no server), or any fake the app prefers (docs/adr/0027).
import Foundation

/// A signed-in engineer's tickets on this device: every operation an app uses. `Fieldsync`
/// conforms; every failure is a `FieldsyncError`. See `Fieldsync` for what each does.
public protocol FieldsyncApi: AnyObject, Sendable {
    // ---- observation
    /// The sync status: the current one first, then every change.
    var syncStatus: AsyncStream<SyncStatus> { get }
    /// The sync status now.
    var currentSyncStatus: SyncStatus { get }
    /// The tickets on this device: the current list first, then the list after every change.
    var tickets: AsyncStream<[TicketSummary]> { get }
    /// One ticket's full view, now and after every change to it; nil when not on this device.
    func observeTicket(_ ticketId: String) -> AsyncStream<Ticket?>
    /// A live query: its result now, then whenever a change alters it, with the changed ids.
    func observeTickets(_ query: TicketQuery) -> AsyncStream<TicketsUpdate>

    // ---- queries
    func list(_ filter: ListFilter) async throws -> [TicketSummary]
    func query(_ query: TicketQuery) async throws -> [TicketSummary]
    func get(_ ticketId: String) async throws -> Ticket
    func counts() async throws -> [StatusCount]

    // ---- actions: each is on disk when it returns, and syncs later
    /// Performs any action the core declares, e.g. `perform(id, .hold(reason: "awaiting part
    /// X-20"))`: checked by the same workflow as on every device and the server; a refusal is
    /// `.refused(reason:)`. `Command` is generated from the core's own declaration, so an action
    /// added there is here with no edit to this protocol (docs/adr/0032). The only action a fake
    /// must implement; the named ones below are conveniences over it.
    func perform(_ ticketId: String, _ command: Command) async throws
    /// Renders the strokes to a PNG, binds it to the job summary and records it: more than a `Command`.
    func captureSignature(_ ticketId: String, signer: String, strokes: [[StrokePoint]]) async throws -> Signature

    // ---- media and the report
    func jobSummary(_ ticketId: String) async throws -> JobSummary
    func mediaFile(_ sha256: String) async throws -> String?
    func addPhoto(_ ticketId: String, _ photo: NewPhoto) async throws -> Photo
    func serviceReport(_ ticketId: String, options: ReportOptions) async throws -> String

    // ---- sync and lifecycle
    func syncNow() async throws -> SyncReport
    func syncOnce(timeout: Duration) async -> SyncOutcome
    func setOnline(_ online: Bool)
    /// Ends every stream, stops sync, releases the store. Idempotent.
    func close() async
}

extension FieldsyncApi {
    /// Every ticket on this device.
    public func list() async throws -> [TicketSummary] { try await list(ListFilter()) }
    /// Every ticket, in the default order, live.
    public func observeTickets() -> AsyncStream<TicketsUpdate> { observeTickets(TicketQuery()) }
    /// The report with the default options.
    public func serviceReport(_ ticketId: String) async throws -> String {
        try await serviceReport(ticketId, options: ReportOptions())
    }
}

// Conveniences over `perform`, one line each, for the actions every app calls; any other action
// is `perform(ticketId, .x(...))`.
extension FieldsyncApi {
    public func claim(_ ticketId: String) async throws { try await perform(ticketId, .claim) }
    public func accept(_ ticketId: String) async throws { try await perform(ticketId, .accept) }
    public func reject(_ ticketId: String, reason: String) async throws { try await perform(ticketId, .reject(reason: reason)) }
    public func startTravel(_ ticketId: String) async throws { try await perform(ticketId, .startTravel(eta: nil)) }
    /// Starts travelling and shares an ETA (UTC ms) with the customer's tracking page.
    public func startTravel(_ ticketId: String, etaMillis: Int64) async throws {
        try await perform(ticketId, .startTravel(eta: etaMillis))
    }
    public func checkIn(_ ticketId: String, at location: Location) async throws {
        try await perform(ticketId, .checkIn(location: location))
    }
    public func startWork(_ ticketId: String) async throws { try await perform(ticketId, .startWork) }
    public func pause(_ ticketId: String) async throws { try await perform(ticketId, .pause) }
    public func resume(_ ticketId: String) async throws { try await perform(ticketId, .resume) }
    public func addNote(_ ticketId: String, _ text: String) async throws { try await perform(ticketId, .addNote(text: text)) }
    /// A note the customer sees on the tracking page (an answer to their message).
    public func addPublicNote(_ ticketId: String, _ text: String) async throws {
        try await perform(ticketId, .addPublicNote(text: text))
    }
    public func addPart(_ ticketId: String, sku: String, qty: UInt32) async throws {
        try await perform(ticketId, .addPart(sku: sku, qty: qty))
    }
    public func logTime(_ ticketId: String, minutes: UInt32, kind: String) async throws {
        try await perform(ticketId, .logTime(minutes: minutes, kind: kind))
    }
    public func setChecklistItem(_ ticketId: String, _ item: String, done: Bool) async throws {
        try await perform(ticketId, .setChecklistItem(item: item, done: done))
    }
    public func recordFeedback(_ ticketId: String, rating: UInt8, comment: String) async throws {
        try await perform(ticketId, .recordFeedback(rating: rating, comment: comment))
    }
    public func complete(_ ticketId: String, summary: String) async throws {
        try await perform(ticketId, .complete(summary: summary))
    }
}

/// A photo's metadata: the core's own `PhotoMeta` (docs/adr/0032), under the name apps know.
public typealias Photo = PhotoMeta
/// The customer's signature: the core's own `SignatureMeta` (docs/adr/0032).
public typealias Signature = SignatureMeta
