// Background sync with WorkManager: a periodic CoroutineWorker that runs one bounded sync on the
// app's one client (SharedStore: the library allows one client per store per process) and
// answers WorkManager with what the library's SyncOutcome says (docs/adr/0021).
package dev.fieldsync.sample.app

import android.content.Context
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import dev.fieldsync.FieldsyncException
import dev.fieldsync.sample.WorkResult
import dev.fieldsync.sample.backgroundSync
import java.util.concurrent.TimeUnit

class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        // Signed out: nothing to sync, and nothing will be until the next sign-in schedules us.
        val store = AppStore.shared(applicationContext) ?: return Result.success()
        return try {
            // WorkManager stopping the worker cancels this coroutine: the sync stops at its next step.
            when (backgroundSync(store)) {
                WorkResult.SUCCESS -> Result.success()
                WorkResult.RETRY -> Result.retry()
                WorkResult.FAILURE -> Result.failure()
            }
        } catch (e: FieldsyncException) { // the store did not open (a wrong key, a full disk)
            Result.failure()
        }
    }

    companion object {
        private const val NAME = "fieldsync-sync"

        /** Every 15 minutes (WorkManager's minimum) while a network is up; once per sign-in. */
        fun schedule(context: Context) {
            val request = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
                .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
                .build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(NAME, ExistingPeriodicWorkPolicy.KEEP, request)
        }

        /** At sign-out. */
        fun cancel(context: Context) {
            WorkManager.getInstance(context).cancelUniqueWork(NAME)
        }
    }
}
