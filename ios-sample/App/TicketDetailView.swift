// The open ticket: what it is, where, and every action. Which actions a ticket allows is the
// library's business (refusals come back as the model's message, shown as an alert).
#if canImport(UIKit) && canImport(SwiftUI)
import CoreLocation
import FieldsyncKit
import PhotosUI
import SwiftUI
import TicketsModel
import UIKit

@MainActor
struct TicketDetailView: View {
    @Bindable var model: TicketsModel
    @Environment(\.openURL) private var openURL
    @State private var location = LocationFix()
    @State private var rejectReason = ""
    @State private var rejecting = false
    @State private var summary = ""
    @State private var completing = false
    @State private var note = ""
    @State private var sku = ""
    @State private var qty = 1
    @State private var minutes = 30
    @State private var timeKind = "labour"
    @State private var caption = ""
    @State private var photoItem: PhotosPickerItem?
    @State private var signer = ""
    @State private var strokes: [[StrokePoint]] = []

    var body: some View {
        if let ticket = model.selected {
            Form {
                Section {
                    Text("\(label(ticket.status)) · \(String(describing: ticket.priority))").font(.caption)
                    if !ticket.description.isEmpty { Text(ticket.description) }
                    Text("\(ticket.customer.name) · \(ticket.customer.phone)").font(.headline)
                    HStack {
                        Text(ticket.customer.address)
                        Spacer()
                        Button("Navigate") { openURL(mapsURL(ticket)) }
                    }
                    ForEach(ticket.conflicts, id: \.eventId) { Text($0.reason).foregroundStyle(.red) }
                }
                Section("Status") {
                    Button("Accept") { Task { await model.accept() } }
                    Button("Reject", role: .destructive) { rejecting = true }
                    Button("Travel") { Task { await model.startTravel() } }
                    Button("Check in") { Task { await checkIn() } }
                    Button("Work") { Task { await model.startWork() } }
                    Button("Pause") { Task { await model.pause() } }
                    Button("Resume") { Task { await model.resume() } }
                    Button("Complete") { completing = true }
                }
                Section("Note") {
                    TextField("What was done, what was found", text: $note, axis: .vertical)
                    Button("Add note") {
                        let text = note
                        note = ""
                        Task { await model.addNote(text) }
                    }.disabled(note.isEmpty)
                }
                Section("Part") {
                    TextField("SKU", text: $sku).textInputAutocapitalization(.characters)
                    Stepper("Quantity: \(qty)", value: $qty, in: 1...999)
                    Button("Add part") {
                        let (part, count) = (sku, UInt32(qty))
                        sku = ""
                        Task { await model.addPart(sku: part, qty: count) }
                    }.disabled(sku.isEmpty)
                }
                Section("Time") {
                    Stepper("\(minutes) minutes", value: $minutes, in: 5...720, step: 5)
                    TextField("Kind", text: $timeKind)
                    Button("Log time") { Task { await model.logTime(minutes: UInt32(minutes), kind: timeKind) } }
                        .disabled(timeKind.isEmpty)
                }
                Section("Photos (\(ticket.photos.count))") {
                    TextField("Caption", text: $caption)
                    PhotosPicker("Add a photo", selection: $photoItem, matching: .images)
                    ForEach(ticket.photos, id: \.sha256) { Text("\($0.caption.isEmpty ? "photo" : $0.caption) · \($0.width)×\($0.height)") }
                }
                Section("Signature") {
                    if let signature = ticket.signature {
                        Text("Signed by \(signature.signer), \(formatTime(signature.signedAt))")
                    }
                    SignatureCanvas(strokes: $strokes)
                        .frame(height: 160)
                    TextField("Signed by", text: $signer)
                    HStack {
                        Button("Clear") { strokes = [] }.buttonStyle(.borderless)
                        Spacer()
                        Button("Save signature") {
                            let (name, drawn) = (signer, strokes)
                            strokes = []
                            Task { await model.sign(signer: name, strokes: drawn) }
                        }
                        .buttonStyle(.borderless)
                        .disabled(strokes.isEmpty || signer.isEmpty)
                    }
                }
                Section("History") {
                    ForEach(ticket.notes, id: \.id) { Text("\(formatTime($0.at)) \($0.by): \($0.text)") }
                    ForEach(Array(ticket.parts.enumerated()), id: \.offset) { Text("\($0.element.qty) × \($0.element.sku)") }
                    ForEach(Array(ticket.timeEntries.enumerated()), id: \.offset) {
                        Text("\($0.element.minutes) min \($0.element.kind)")
                    }
                    ForEach(Array(ticket.events.reversed().enumerated()), id: \.offset) {
                        Text("\(formatTime($0.element.at)) \($0.element.kind) (\($0.element.by))")
                    }
                }
            }
            .disabled(model.busy)
            .navigationTitle(ticket.title)
            .onChange(of: photoItem) { _, item in
                guard let item else { return }
                photoItem = nil
                Task { await addPhoto(item) }
            }
            .alert("Reject the ticket", isPresented: $rejecting) {
                TextField("Why", text: $rejectReason)
                Button("Reject", role: .destructive) { Task { await model.reject(reason: rejectReason) } }
                Button("Cancel", role: .cancel) {}
            }
            .alert("Complete the job", isPresented: $completing) {
                TextField("Summary for the customer", text: $summary)
                Button("Complete") { Task { await model.complete(summary: summary) } }
                Button("Cancel", role: .cancel) {}
            }
        }
    }

    /// A fresh fix from Core Location (asking for permission the first time), then check-in.
    private func checkIn() async {
        guard let fix = await location.current() else {
            model.message = "No location fix: allow location for this app and try again"
            return
        }
        await model.checkIn(at: fix)
    }

    /// PhotosPicker hands over the original (HEIC on recent iPhones); the library takes JPEG or
    /// PNG, so it is converted with UIImage and written to a temporary file first.
    private func addPhoto(_ item: PhotosPickerItem) async {
        do {
            guard let data = try await item.loadTransferable(type: Data.self),
                  let jpeg = UIImage(data: data)?.jpegData(compressionQuality: 0.9)
            else {
                model.message = "This photo cannot be read"
                return
            }
            let file = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString + ".jpg")
            try jpeg.write(to: file, options: .completeFileProtection)
            defer { try? FileManager.default.removeItem(at: file) }  // the library keeps its own copy
            await model.addPhoto(path: file.path, caption: caption, location: location.last)
            caption = ""
        } catch {
            model.message = "This photo cannot be read: \(error.localizedDescription)"
        }
    }

    /// Apple Maps at the site (ll= the coordinates, q= the pin's label), or at the address.
    private func mapsURL(_ ticket: Ticket) -> URL {
        var components = URLComponents(string: "https://maps.apple.com/")!
        if let site = ticket.site {
            components.queryItems = [
                URLQueryItem(name: "ll", value: "\(site.lat),\(site.lon)"),
                URLQueryItem(name: "q", value: ticket.customer.name),
            ]
        } else {
            components.queryItems = [URLQueryItem(name: "address", value: ticket.customer.address)]
        }
        return components.url!
    }
}

/// One location fix at a time from CLLocationManager, as an async call.
@MainActor
final class LocationFix: NSObject, CLLocationManagerDelegate {
    /// The last fix, for a photo's location.
    private(set) var last: Location?
    private let manager = CLLocationManager()
    private var waiting: CheckedContinuation<Location?, Never>?

    override init() {
        super.init()
        manager.delegate = self
        manager.desiredAccuracy = kCLLocationAccuracyBest
    }

    func current() async -> Location? {
        if manager.authorizationStatus == .notDetermined { manager.requestWhenInUseAuthorization() }
        waiting?.resume(returning: nil)  // a second tap replaces the first wait
        return await withCheckedContinuation { continuation in
            waiting = continuation
            manager.requestLocation()
        }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didUpdateLocations locations: [CLLocation]) {
        guard let fix = locations.last else { return }
        let location = Location(lat: fix.coordinate.latitude, lon: fix.coordinate.longitude, accuracyM: fix.horizontalAccuracy)
        Task { @MainActor in self.finish(location) }
    }

    nonisolated func locationManager(_ manager: CLLocationManager, didFailWithError error: Error) {
        Task { @MainActor in self.finish(nil) }
    }

    private func finish(_ location: Location?) {
        if let location { last = location }
        waiting?.resume(returning: location)
        waiting = nil
    }
}
#endif
