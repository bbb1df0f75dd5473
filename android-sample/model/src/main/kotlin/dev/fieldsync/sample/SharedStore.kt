// The one client of the engineer's store in this process, shared by the screens and background
// work (WorkManager's SyncWorker, app/.../SyncWorker.kt): the library allows one client per
// store per process (a second open is FieldsyncException.StoreInUse, docs/adr/0021). Plain
// Kotlin, so that CI compiles and runs it on the JVM (scripts/test-bindings.sh).
package dev.fieldsync.sample

import dev.fieldsync.Fieldsync
import dev.fieldsync.SyncOutcome
import kotlin.time.Duration
import kotlin.time.Duration.Companion.minutes
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import kotlinx.coroutines.withContext

/**
 * Opens the store with [open] for its first user and closes it after its last: the screens hold
 * it while signed in, a background sync borrows it (or opens it for its run when no screen is
 * up, as when WorkManager starts the process).
 */
class SharedStore(private val open: suspend () -> Fieldsync) {
    private val lock = Mutex()
    private var client: Fieldsync? = null
    private var users = 0

    /** The client, opened if nobody holds it; [release] once done. */
    suspend fun acquire(): Fieldsync = lock.withLock {
        val fieldsync = client ?: open().also { client = it }
        users++
        fieldsync
    }

    /** Gives the client back; the last user's release closes it (and releases the store). */
    suspend fun release() = lock.withLock {
        users--
        if (users == 0) {
            val closing = client
            client = null
            withContext(Dispatchers.IO) { closing?.close() }
        }
    }

    /** Runs [block] with the client, acquired and released around it. */
    suspend fun <T> use(block: suspend (Fieldsync) -> T): T {
        val fieldsync = acquire()
        try {
            return block(fieldsync)
        } finally {
            release()
        }
    }

    /** How many hold the client now. */
    suspend fun holders(): Int = lock.withLock { users }
}

/** What a background sync tells WorkManager: `Result.success()`, `retry()` or `failure()`. */
enum class WorkResult { SUCCESS, RETRY, FAILURE }

/**
 * One bounded sync for a background worker, on the shared client. WorkManager grants a worker
 * 10 minutes; [timeout] stays below it so the sync ends by itself (and stops cleanly if the
 * worker is stopped first: its coroutine is cancelled).
 */
suspend fun backgroundSync(store: SharedStore, timeout: Duration = 9.minutes): WorkResult = store.use { fieldsync ->
    when (fieldsync.syncOnce(timeout)) {
        is SyncOutcome.Synced -> WorkResult.SUCCESS
        is SyncOutcome.Retry -> WorkResult.RETRY
        // Sign in again, or a certificate to trust: retrying on a schedule will not help.
        is SyncOutcome.Failed -> WorkResult.FAILURE
    }
}
