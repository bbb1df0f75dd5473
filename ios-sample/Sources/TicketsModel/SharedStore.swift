// The one client of the engineer's store in this process, shared by the scenes and background
// refresh (a BGAppRefreshTask handler, App/BackgroundRefresh.swift): the library allows one
// client per store per process (a second open is FieldsyncError.storeInUse, docs/adr/0021).
// Plain Swift, so that CI compiles and runs it on Linux (scripts/test-bindings.sh).
import FieldsyncKit
import Foundation

/// Opens the store with `open` for its first user and closes it after its last: the scenes
/// hold it while signed in; a background refresh borrows it, or opens it for its run when the
/// system launched the app in the background with no scene.
public actor SharedStore {
    private let open: @Sendable () async throws -> Fieldsync
    private var client: Fieldsync?
    private var opening: Task<Fieldsync, Error>?
    private var closing: Task<Void, Never>?
    private var users = 0

    public init(open: @escaping @Sendable () async throws -> Fieldsync) {
        self.open = open
    }

    /// The client, opened if nobody holds it; `release()` once done.
    public func acquire() async throws -> Fieldsync {
        users += 1
        do {
            if let client { return client }
            // The last user's close still running: the store is free once it is done.
            await closing?.value
            if let client { return client }
            // One open at a time, even when two users arrive while it runs.
            let task = opening ?? Task { try await open() }
            opening = task
            let opened = try await task.value
            client = opened
            opening = nil
            return opened
        } catch {
            users -= 1
            opening = nil
            throw error
        }
    }

    /// Gives the client back; the last user's release closes it (and releases the store).
    public func release() async {
        users -= 1
        guard users == 0, let client else { return }
        self.client = nil
        let done = Task { await client.close() }
        closing = done
        await done.value
        if closing == done { closing = nil }
    }

    /// How many hold the client now.
    public var holders: Int { users }
}

/// One bounded sync for a `BGAppRefreshTask`, on the shared client: what to pass to
/// `setTaskCompleted(success:)`. The system grants about 30 s; cancel the calling task from
/// the task's `expirationHandler` and the sync stops at once.
public func backgroundSync(_ store: SharedStore, timeout: Duration = .seconds(25)) async -> Bool {
    guard let fieldsync = try? await store.acquire() else { return false }
    let outcome = await fieldsync.syncOnce(timeout: timeout)
    await store.release()
    if case .synced = outcome { return true }
    return false
}
