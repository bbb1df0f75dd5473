// The process's one client of the engineer's store, shared by the screens (AppViewModel) and
// background sync (SyncWorker): the library allows one client per store per process.
package dev.fieldsync.sample.app

import android.content.Context
import dev.fieldsync.sample.SharedStore
import dev.fieldsync.sample.openStore
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

object AppStore {
    private var shared: SharedStore? = null

    /** The store file, in noBackupFilesDir beside the Keystore-sealed secrets. */
    fun storePath(context: Context): String = File(context.noBackupFilesDir, "fieldsync.sqlite").path

    /**
     * The shared store of the saved sign-in (its client opens with its first user), or null when
     * signed out. Blocking (the Keystore): call it off the main thread.
     */
    @Synchronized
    fun shared(context: Context): SharedStore? {
        shared?.let { return it }
        val vault = KeystoreVault(context.noBackupFilesDir)
        if (vault.session() == null) return null
        val path = storePath(context)
        return SharedStore {
            val (session, key) = withContext(Dispatchers.IO) { (vault.session() ?: error("signed out")) to vault.storeKey() }
            openStore(path, session.server, key, session.identity)
        }.also { shared = it }
    }

    /** At sign-out, once the client is released: the next sign-in makes a new one. */
    @Synchronized
    fun forget() {
        shared = null
    }
}
