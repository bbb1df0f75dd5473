// The app's one androidx ViewModel: signs in, opens the encrypted store with the Keystore's
// key (through AppStore, the client it shares with SyncWorker), hands the screens a
// TicketsViewModel running in viewModelScope, tells the library when the phone is online
// (ConnectivityManager.NetworkCallback) and schedules background sync (SyncWorker).
package dev.fieldsync.sample.app

import android.app.Application
import android.net.ConnectivityManager
import android.net.Network
import android.net.NetworkCapabilities
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.fieldsync.Fieldsync
import dev.fieldsync.OkHttpTransport
import dev.fieldsync.FieldsyncException
import dev.fieldsync.ServerConfig
import dev.fieldsync.reason
import dev.fieldsync.sample.SharedStore
import dev.fieldsync.sample.TicketsViewModel
import java.io.File
import java.io.IOException
import java.security.GeneralSecurityException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import kotlinx.coroutines.plus
import kotlinx.coroutines.withContext

/** Which screen the app shows. */
sealed interface AppState {
    /** Reading the saved sign-in and opening the store. */
    data object Opening : AppState

    /** The sign-in form; [error] from the last attempt, [busy] while one runs. */
    data class SignedOut(val error: String? = null, val busy: Boolean = false) : AppState

    /** The ticket screens. */
    data class SignedIn(val tickets: TicketsViewModel) : AppState

    /** The store would not open (a wrong key, a damaged disk): say why, offer to sign out. */
    data class Failed(val reason: String) : AppState
}

class AppViewModel(app: Application) : AndroidViewModel(app) {
    private val vault = KeystoreVault(app.noBackupFilesDir)
    private val storePath = AppStore.storePath(app)
    private val connectivity = app.getSystemService(ConnectivityManager::class.java)
    private val mutableState = MutableStateFlow<AppState>(AppState.Opening)
    private var fieldsync: Fieldsync? = null
    /** Where [fieldsync] came from: released (not closed) when done, SyncWorker may hold it too. */
    private var shared: SharedStore? = null

    /** The signed-in screens' coroutines (a child of viewModelScope): sign-out cancels them first. */
    private var signedInJob: Job? = null
    private var networkCallback: ConnectivityManager.NetworkCallback? = null

    val state: StateFlow<AppState> = mutableState.asStateFlow()

    init {
        viewModelScope.launch {
            val session = try {
                withContext(Dispatchers.IO) { vault.session() }
            } catch (e: Exception) { // Keystore or file trouble: the engineer signs in again.
                null
            }
            if (session == null) {
                mutableState.value = AppState.SignedOut()
            } else {
                open()
            }
        }
    }

    /** The sign-in form: the server asks whose token this is, then the store opens. */
    fun signIn(url: String, token: String) {
        mutableState.value = AppState.SignedOut(busy = true)
        viewModelScope.launch {
            val server = ServerConfig(url = url.trim().trimEnd('/'), token = token.trim())
            try {
                val identity = Fieldsync.whoAmI(server, OkHttpTransport.platform)
                withContext(Dispatchers.IO) { vault.saveSession(Session(server, identity)) }
                open()
            } catch (e: FieldsyncException) {
                mutableState.value = AppState.SignedOut(error = e.reason)
            }
        }
    }

    /** Forgets the sign-in, the key and the store (whatever has not synced is lost: the UI warns). */
    fun signOut() {
        stopConnectivity()
        val releasing = shared
        fieldsync = null
        shared = null
        SyncWorker.cancel(getApplication<Application>())
        viewModelScope.launch {
            // The model's Flows end (their subscriptions close) before the client does.
            signedInJob?.cancelAndJoin()
            signedInJob = null
            // The last holder closes it (a running SyncWorker finishes its sync first).
            releasing?.release()
            AppStore.forget()
            withContext(Dispatchers.IO) {
                vault.clear()
                listOf("", "-wal", "-shm").forEach { File(storePath + it).delete() }
            }
            mutableState.value = AppState.SignedOut()
        }
    }

    /** Opens the saved sign-in's store through [AppStore], shared with SyncWorker. */
    private suspend fun open() {
        var store: SharedStore? = null
        val opened = try {
            store = withContext(Dispatchers.IO) { AppStore.shared(getApplication<Application>()) }
            if (store == null) {
                mutableState.value = AppState.SignedOut()
                return
            }
            store.acquire()
        } catch (e: FieldsyncException) {
            mutableState.value = AppState.Failed(e.reason)
            return
        } catch (e: GeneralSecurityException) { // the Keystore refused, or a sealed file was altered
            mutableState.value = AppState.Failed("the Keystore cannot unlock the store key: $e")
            return
        } catch (e: IOException) {
            mutableState.value = AppState.Failed("cannot read the store key: $e")
            return
        }
        fieldsync = opened
        shared = store
        SyncWorker.schedule(getApplication<Application>())
        val job = SupervisorJob(viewModelScope.coroutineContext.job)
        signedInJob = job
        mutableState.value = AppState.SignedIn(TicketsViewModel(opened, viewModelScope + job))
        startConnectivity(opened)
    }

    /** Online = the default network has validated internet access; the library syncs at once then. */
    private fun startConnectivity(fieldsync: Fieldsync) {
        val callback = object : ConnectivityManager.NetworkCallback() {
            override fun onCapabilitiesChanged(network: Network, capabilities: NetworkCapabilities) {
                fieldsync.setOnline(
                    capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET) &&
                        capabilities.hasCapability(NetworkCapabilities.NET_CAPABILITY_VALIDATED),
                )
            }

            override fun onLost(network: Network) = fieldsync.setOnline(false)
        }
        // Called at once with the current default network, if there is one.
        connectivity.registerDefaultNetworkCallback(callback)
        networkCallback = callback
    }

    private fun stopConnectivity() {
        networkCallback?.let { connectivity.unregisterNetworkCallback(it) }
        networkCallback = null
    }

    override fun onCleared() {
        // viewModelScope is cancelled by now: the Flows' subscriptions are closed.
        stopConnectivity()
        val releasing = shared
        fieldsync = null
        shared = null
        // viewModelScope is gone; the release is quick (the last holder closes the client).
        releasing?.let { CoroutineScope(Dispatchers.IO).launch { it.release() } }
    }
}
