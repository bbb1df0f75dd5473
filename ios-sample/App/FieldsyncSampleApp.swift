// The SwiftUI app: sign-in, the encrypted store opened with the Keychain's key (through the
// SharedStore it shares with background refresh, BackgroundRefresh.swift), the ticket screens
// over TicketsModel, and NWPathMonitor telling the library when the phone is online.
// iOS only (UIKit, PhotosUI, Network): CI compiles and runs TicketsModel on Linux instead.
#if canImport(UIKit) && canImport(SwiftUI)
import FieldsyncKit
import Network
import SwiftUI
import TicketsModel

@main
struct FieldsyncSampleApp: App {
    @State private var app = AppModel()

    init() {
        BackgroundRefresh.register()
    }

    var body: some Scene {
        WindowGroup {
            RootView(app: app)
                .task { await app.start() }
        }
    }
}

/// Which screen the app shows, and the one `Fieldsync` while signed in.
@MainActor @Observable
final class AppModel {
    enum Screen {
        case opening
        case signedOut(error: String?)
        case signedIn(TicketsModel)
        case failed(String)
    }

    private(set) var screen: Screen = .opening
    private(set) var busy = false
    private var fieldsync: Fieldsync?
    private var monitor: NWPathMonitor?

    /// The one client of the store for the scenes and background refresh alike.
    static func sharedStore(session: Session) -> SharedStore {
        let (path, server, identity) = (storePath, session.server, session.identity)
        return SharedStore {
            let key = try KeychainStoreKey.load()
            return try await openStore(storePath: path, server: server, storeKey: key, identity: identity)
        }
    }

    private static let storePath: String = {
        let support = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        try? FileManager.default.createDirectory(at: support, withIntermediateDirectories: true)
        return support.appendingPathComponent("fieldsync.sqlite").path
    }()

    /// Opens the saved sign-in's store, offline if need be.
    func start() async {
        guard case .opening = screen else { return }
        guard let session = try? SessionStore.load() else {
            screen = .signedOut(error: nil)
            return
        }
        await open(server: session.server, identity: session.identity)
    }

    /// The sign-in form: the server says whose token this is, then the store opens.
    func signIn(url: String, token: String) async {
        busy = true
        defer { busy = false }
        var base = url.trimmingCharacters(in: .whitespaces)
        while base.hasSuffix("/") { base.removeLast() }
        let server = ServerConfig(url: base, token: token.trimmingCharacters(in: .whitespaces))
        do {
            let identity = try await whoAmI(server: server)
            try SessionStore.save(Session(server: server, identity: identity))
            await open(server: server, identity: identity)
        } catch let error as FieldsyncError {
            screen = .signedOut(error: error.reason)
        } catch {
            screen = .signedOut(error: "\(error)")
        }
    }

    /// Forgets the sign-in, the key and the store (what has not synced is lost: the UI warns).
    func signOut() async {
        monitor?.cancel()
        monitor = nil
        if case .signedIn(let model) = screen { model.stop() }
        fieldsync = nil
        BackgroundRefresh.cancel()
        // The last holder closes the client (a refresh under way finishes first).
        await BackgroundRefresh.store?.release()
        BackgroundRefresh.store = nil
        screen = .signedOut(error: nil)
        try? SessionStore.delete()
        try? KeychainStoreKey.delete()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: Self.storePath + suffix) }
    }

    private func open(server: ServerConfig, identity: Identity) async {
        do {
            let store = BackgroundRefresh.store ?? Self.sharedStore(session: Session(server: server, identity: identity))
            BackgroundRefresh.store = store
            let opened = try await store.acquire()
            fieldsync = opened
            BackgroundRefresh.schedule()
            let model = TicketsModel(fieldsync: opened)
            model.start()
            screen = .signedIn(model)
            watchConnectivity(opened)
        } catch let error as FieldsyncError {
            screen = .failed(error.reason)
        } catch {
            screen = .failed("\(error)")  // the Keychain refused
        }
    }

    /// Online = the path is satisfied; the library syncs at once then. The handler runs on the
    /// monitor's queue: setOnline is safe from any thread.
    private func watchConnectivity(_ fieldsync: Fieldsync) {
        let monitor = NWPathMonitor()
        // @Sendable: not main-actor isolated (it runs on the monitor's queue).
        monitor.pathUpdateHandler = { @Sendable path in fieldsync.setOnline(path.status == .satisfied) }
        monitor.start(queue: DispatchQueue(label: "dev.fieldsync.sample.network"))
        self.monitor = monitor
    }
}

@MainActor
struct RootView: View {
    let app: AppModel

    var body: some View {
        switch app.screen {
        case .opening:
            ProgressView()
        case .signedOut(let error):
            SignInView(error: error, busy: app.busy) { url, token in Task { await app.signIn(url: url, token: token) } }
        case .signedIn(let model):
            TicketListView(model: model, onSignOut: { Task { await app.signOut() } })
        case .failed(let reason):
            VStack(spacing: 16) {
                Text("The store did not open").font(.title2)
                Text(reason)
                Text("Signing out deletes this phone's copy; what had not synced is lost.")
                Button("Sign out", role: .destructive) { Task { await app.signOut() } }
            }
            .padding()
        }
    }
}

@MainActor
struct SignInView: View {
    let error: String?
    let busy: Bool
    let onSignIn: @MainActor (String, String) -> Void
    @State private var url = "https://"
    @State private var token = ""

    var body: some View {
        Form {
            Section("Server") {
                TextField("https://fieldsync.example.com", text: $url)
                    .textInputAutocapitalization(.never)
                    .keyboardType(.URL)
                    .autocorrectionDisabled()
                SecureField("Device token", text: $token)
            }
            if let error { Text(error).foregroundStyle(.red) }
            Button("Sign in") { onSignIn(url, token) }
                .disabled(busy || token.isEmpty)
        }
    }
}
#endif
