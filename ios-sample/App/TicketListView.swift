// The ticket list with the sync status bar, and navigation to the detail view.
#if canImport(UIKit) && canImport(SwiftUI)
import FieldsyncKit
import SwiftUI
import TicketsModel

@MainActor
struct TicketListView: View {
    @Bindable var model: TicketsModel
    let onSignOut: @MainActor () -> Void
    @State private var confirmSignOut = false

    var body: some View {
        NavigationStack {
            List(model.tickets, id: \.id) { ticket in
                Button { Task { await model.open(ticket.id) } } label: { TicketRow(ticket: ticket) }
                    .foregroundStyle(.primary)
            }
            .refreshable { await model.refresh() }
            .navigationTitle("Tickets")
            .toolbar { Button("Sign out") { confirmSignOut = true } }
            .safeAreaInset(edge: .bottom) { SyncStatusBar(sync: model.sync) }
            .navigationDestination(isPresented: detailShown) { TicketDetailView(model: model) }
            .confirmationDialog("Sign out?", isPresented: $confirmSignOut) {
                Button("Sign out", role: .destructive) { onSignOut() }
            } message: {
                let pending = (model.sync?.pendingTickets ?? 0) + (model.sync?.pendingUploads ?? 0)
                Text(pending > 0 ? "\(pending) changes have not reached the server and will be lost."
                    : "This phone's copy of the tickets is deleted.")
            }
        }
        .alert("Not done", isPresented: messageShown) {
            Button("OK") { model.message = nil }
        } message: {
            Text(model.message ?? "")
        }
    }

    /// The detail view is shown while a ticket is open; going back closes it.
    private var detailShown: Binding<Bool> {
        Binding(get: { model.selected != nil }, set: { if !$0 { model.closeTicket() } })
    }

    private var messageShown: Binding<Bool> {
        Binding(get: { model.message != nil }, set: { if !$0 { model.message = nil } })
    }
}

struct TicketRow: View {
    let ticket: TicketSummary

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            HStack {
                Text(ticket.index.title).font(.headline)
                Spacer()
                Text(label(ticket.index.status)).font(.caption)
            }
            Text("\(ticket.index.customerName) · \(ticket.index.customerAddress)").font(.subheadline)
            Text(flags.joined(separator: " · ")).font(.caption).foregroundStyle(.secondary)
        }
    }

    private var flags: [String] {
        var flags = ["\(ticket.index.priority)"]
        if let due = ticket.index.slaDueAt { flags.append("due \(formatTime(due))") }
        if ticket.pending { flags.append("not synced yet") }
        if ticket.index.conflicts > 0 { flags.append("\(ticket.index.conflicts) refused") }
        if ticket.quarantined != nil { flags.append("set aside: cannot be read") }
        if let rejected = ticket.rejected { flags.append("server refused: \(rejected)") }
        return flags
    }
}

/// Online or not, syncing, what waits to go up, the last error.
struct SyncStatusBar: View {
    let sync: SyncStatus?

    var body: some View {
        Text(text)
            .font(.footnote)
            .frame(maxWidth: .infinity, alignment: .leading)
            .padding(.horizontal)
            .padding(.vertical, 8)
            .background(.bar)
    }

    private var text: String {
        guard let sync else { return "…" }
        if let error = sync.lastError { return "Sync failed: \(error)" }
        if sync.syncing { return "Syncing…" }
        var text = sync.online ? "Online" : "Offline"
        if sync.pendingTickets > 0 { text += " · \(sync.pendingTickets) tickets to send" }
        if sync.pendingUploads > 0 {
            text += " · \(sync.pendingUploads) uploads (\(sync.pendingUploadBytes / 1024) KB)"
        }
        if let last = sync.lastSuccessAt { text += " · synced \(formatTime(last))" }
        return text
    }
}

func label(_ status: Status) -> String {
    switch status {
    case .new: "new"
    case .dispatched: "dispatched"
    case .accepted: "accepted"
    case .rejected: "rejected"
    case .travelling: "travelling"
    case .onSite: "on site"
    case .working: "working"
    case .paused: "paused"
    case .completed: "completed"
    case .cancelled: "cancelled"
    case .pooled: "in the pool"
    }
}

func formatTime(_ millis: Int64) -> String {
    Date(timeIntervalSince1970: Double(millis) / 1000).formatted(date: .abbreviated, time: .shortened)
}
#endif
