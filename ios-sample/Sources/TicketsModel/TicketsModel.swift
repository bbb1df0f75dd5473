// The iOS sample's screen model: what the ticket list and ticket detail views show, and the
// actions they offer. Plain Swift over the AsyncStream layer (FieldsyncKit), Observation for
// SwiftUI, so that CI compiles and runs it on Linux against the real library
// (scripts/test-bindings.sh).
//
// In the app: `@State var model = TicketsModel(fieldsync: fieldsync)`, `.task { model.start() }`
// on the root view, and the views read `model.tickets`, `model.sync`, `model.selected`.
import FieldsyncKit
import Foundation
import Observation

@MainActor @Observable
public final class TicketsModel {
    /// The list view's rows.
    public private(set) var tickets: [TicketSummary] = []
    /// The sync status bar: online, syncing, pending changes and uploads, last error.
    public private(set) var sync: SyncStatus?
    /// The ticket open in the detail view.
    public private(set) var selected: Ticket?
    /// An action is running: the detail view disables its buttons.
    public private(set) var busy = false
    /// The last refusal or failure, for an alert ("cannot accept: ticket is accepted").
    public var message: String?

    private let fieldsync: Fieldsync
    private var listening: [Task<Void, Never>] = []

    public init(fieldsync: Fieldsync) {
        self.fieldsync = fieldsync
    }

    /// Follows the library's ticket list and sync status until `stop()`.
    public func start() {
        guard listening.isEmpty else { return }
        listening = [
            Task {
                for await list in fieldsync.tickets {
                    self.tickets = list
                    // Sync may have changed the open ticket (the dispatcher edited it): show it as it is now.
                    if let open = self.selected?.id, list.contains(where: { $0.id == open }) { await self.reload(open) }
                }
            },
            Task { for await status in fieldsync.syncStatus { self.sync = status } },
        ]
    }

    public func stop() {
        listening.forEach { $0.cancel() }
        listening = []
    }

    /// `NWPathMonitor.pathUpdateHandler` (`path.status == .satisfied`): going online syncs at once.
    public func connectivityChanged(online: Bool) {
        fieldsync.setOnline(online)
    }

    /// Opens a ticket in the detail view.
    public func open(_ ticketId: String) async {
        await run { self.selected = try await self.fieldsync.get(ticketId) }
    }

    /// Back from the detail view to the list.
    public func closeTicket() {
        selected = nil
    }

    public func accept() async { await act { try await $0.accept($1) } }
    public func reject(reason: String) async { await act { try await $0.reject($1, reason: reason) } }
    public func startTravel() async { await act { try await $0.startTravel($1) } }
    /// The check-in button, with the fix from CLLocationManager.
    public func checkIn(at location: Location) async { await act { try await $0.checkIn($1, at: location) } }
    public func startWork() async { await act { try await $0.startWork($1) } }
    public func pause() async { await act { try await $0.pause($1) } }
    public func resume() async { await act { try await $0.resume($1) } }
    public func addNote(_ text: String) async { await act { try await $0.addNote($1, text) } }
    public func addPart(sku: String, qty: UInt32) async { await act { try await $0.addPart($1, sku: sku, qty: qty) } }
    /// Time worked, `kind` "labour", "travel", ...
    public func logTime(minutes: UInt32, kind: String) async {
        await act { try await $0.logTime($1, minutes: minutes, kind: kind) }
    }
    /// The signature canvas's strokes (x, y in 0...1 of the canvas, t in ms since the first touch).
    public func sign(signer: String, strokes: [[StrokePoint]]) async {
        await act { _ = try await $0.captureSignature($1, signer: signer, strokes: strokes) }
    }
    /// A photo from PhotosPicker, converted from HEIC to a JPEG file first, with where the phone
    /// was, if known. The library resizes it, strips its metadata and queues the upload.
    public func addPhoto(path: String, caption: String, location: Location? = nil) async {
        let takenAt = Int64(Date().timeIntervalSince1970 * 1000)
        await act {
            _ = try await $0.addPhoto($1, NewPhoto(path: path, caption: caption, takenAt: takenAt, location: location))
        }
    }
    public func complete(summary: String) async { await act { try await $0.complete($1, summary: summary) } }

    /// Pull to refresh.
    public func refresh() async { await run { _ = try await self.fieldsync.syncNow() } }

    private func reload(_ ticketId: String) async {
        // Evicted or set aside: the list says so; the view keeps what it showed.
        guard let fresh = try? await fieldsync.get(ticketId), selected?.id == ticketId else { return }
        selected = fresh
    }

    /// Runs an action on the open ticket, then shows the ticket as it is now. Which actions a
    /// ticket allows is the library's business: a refused one comes back with its reason.
    private func act(_ action: (Fieldsync, String) async throws -> Void) async {
        guard let ticketId = selected?.id else { return }
        await run { try await action(self.fieldsync, ticketId) }
        // Done or refused: show the ticket as it is now.
        if let ticket = try? await fieldsync.get(ticketId) { selected = ticket }
    }

    /// One operation at a time; a refusal or failure becomes the alert's message.
    private func run(_ body: () async throws -> Void) async {
        busy = true
        defer { busy = false }
        do {
            try await body()
        } catch let error as FieldsyncError {
            message = error.reason
        } catch {
            message = "\(error)"
        }
    }
}
