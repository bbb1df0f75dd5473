// Background refresh with BGTaskScheduler: a BGAppRefreshTask runs one bounded sync on the
// app's one client (SharedStore: the library allows one client per store per process) and
// completes the task with what the library's SyncOutcome says (docs/adr/0021). The identifier
// is listed under BGTaskSchedulerPermittedIdentifiers in Info.plist (UIBackgroundModes: fetch).
#if canImport(BackgroundTasks) && canImport(UIKit)
import BackgroundTasks
import FieldsyncKit
import Foundation
import TicketsModel

enum BackgroundRefresh {
    static let identifier = "dev.fieldsync.sample.refresh"

    /// The process's one SharedStore of the saved sign-in's store; nil when signed out.
    @MainActor static var store: SharedStore?

    /// At launch, before the app finishes launching (BGTaskScheduler's rule).
    static func register() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            guard let refresh = task as? BGAppRefreshTask else { return task.setTaskCompleted(success: false) }
            handle(refresh)
        }
    }

    /// Asks for the next refresh in about 15 minutes (the system decides when).
    static func schedule() {
        let request = BGAppRefreshTaskRequest(identifier: identifier)
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }

    static func cancel() {
        BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: identifier)
    }

    private static func handle(_ task: BGAppRefreshTask) {
        schedule()
        let work = Task { @MainActor in
            // Launched for the refresh with no scene yet: the saved sign-in's store.
            if store == nil, let session = try? SessionStore.load() {
                store = AppModel.sharedStore(session: session)
            }
            guard let store else { return task.setTaskCompleted(success: true) }  // signed out
            task.setTaskCompleted(success: await backgroundSync(store))
        }
        // Out of time: cancelling the task stops the sync at once (Fieldsync.syncOnce is cancellable).
        task.expirationHandler = { work.cancel() }
    }
}
#endif
