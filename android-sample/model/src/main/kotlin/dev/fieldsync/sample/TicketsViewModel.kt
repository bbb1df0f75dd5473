// The Android sample's screen model: what the ticket list and ticket detail screens show, and
// the actions they offer. Plain Kotlin over the Flow layer (dev.fieldsync.Fieldsync), so that
// CI compiles and runs it on the JVM against the real library (scripts/test-bindings.sh).
//
// In the app it is an androidx ViewModel: `class TicketsViewModel(app: Application) :
// AndroidViewModel(app)` passing `viewModelScope` as `scope`, and the Compose screens collect
// `state` with `collectAsStateWithLifecycle()`.
package dev.fieldsync.sample

import dev.fieldsync.Fieldsync
import dev.fieldsync.FieldsyncException
import dev.fieldsync.Location
import dev.fieldsync.NewPhoto
import dev.fieldsync.StrokePoint
import dev.fieldsync.SyncStatus
import dev.fieldsync.Ticket
import dev.fieldsync.TicketSummary
import dev.fieldsync.reason
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** Everything the two screens draw. */
data class TicketsScreenState(
    /** The list screen's rows, newest change first as the library orders them. */
    val tickets: List<TicketSummary> = emptyList(),
    /** The sync status bar: online, syncing, pending changes and uploads, last error. */
    val sync: SyncStatus? = null,
    /** The ticket open on the detail screen. */
    val selected: Ticket? = null,
    /** An action is running: the detail screen disables its buttons. */
    val busy: Boolean = false,
    /** The last refusal or failure, for a snackbar ("cannot accept: ticket is accepted"). */
    val message: String? = null,
)

/**
 * The screens' model. Which actions a ticket allows is the library's business (its workflow
 * refuses the others with a reason): the screen offers them and shows the refusal.
 */
class TicketsViewModel(private val fieldsync: Fieldsync, private val scope: CoroutineScope) {
    private val mutableState = MutableStateFlow(TicketsScreenState())

    /** What the screens draw, always current. */
    val state: StateFlow<TicketsScreenState> = mutableState.asStateFlow()

    init {
        scope.launch {
            fieldsync.tickets.collect { list ->
                mutableState.update { it.copy(tickets = list) }
                // Sync may have changed the open ticket (the dispatcher edited it): show it as it is now.
                state.value.selected?.let { open -> if (list.any { it.id == open.id }) reloadSelected(open.id) }
            }
        }
        scope.launch { fieldsync.syncStatus.collect { status -> mutableState.update { it.copy(sync = status) } } }
    }

    /** `ConnectivityManager.NetworkCallback.onAvailable` / `onLost`: going online syncs at once. */
    fun onConnectivityChanged(online: Boolean) = fieldsync.setOnline(online)

    /** Opens a ticket on the detail screen. */
    fun open(ticketId: String): Job = run { mutableState.update { it.copy(selected = fieldsync.get(ticketId)) } }

    /** Back from the detail screen to the list. */
    fun closeTicket() = mutableState.update { it.copy(selected = null) }

    fun accept() = act { fieldsync.accept(it) }
    fun reject(reason: String) = act { fieldsync.reject(it, reason) }
    fun startTravel() = act { fieldsync.startTravel(it) }

    /** The check-in button, with the fix from the FusedLocationProviderClient. */
    fun checkIn(location: Location) = act { fieldsync.checkIn(it, location) }
    fun startWork() = act { fieldsync.startWork(it) }
    fun pause() = act { fieldsync.pause(it) }
    fun resume() = act { fieldsync.resume(it) }
    fun addNote(text: String) = act { fieldsync.addNote(it, text) }
    fun addPart(sku: String, qty: UInt) = act { fieldsync.addPart(it, sku, qty) }

    /** Time worked, [kind] "labour", "travel", ... */
    fun logTime(minutes: UInt, kind: String) = act { fieldsync.logTime(it, minutes, kind) }

    /**
     * A photo the camera wrote to [path] (JPEG or PNG), with where the phone was, if known. The
     * library resizes it, strips its metadata and queues the upload; the file can go afterwards.
     */
    fun addPhoto(path: String, caption: String, location: Location?) =
        act { fieldsync.addPhoto(it, NewPhoto(path = path, caption = caption, takenAt = System.currentTimeMillis(), location = location)) }

    /** The signature pad's strokes (x, y in 0..1 of the pad, t in ms since the first touch). */
    fun sign(signer: String, strokes: List<List<StrokePoint>>) = act { fieldsync.captureSignature(it, signer, strokes) }
    fun complete(summary: String) = act { fieldsync.complete(it, summary) }

    /** Pull to refresh. */
    fun refresh(): Job = run { fieldsync.syncNow() }

    /** The snackbar was shown. */
    fun messageShown() = mutableState.update { it.copy(message = null) }

    private suspend fun reloadSelected(ticketId: String) {
        val fresh = try {
            fieldsync.get(ticketId)
        } catch (e: FieldsyncException) {
            return // Evicted or set aside: the list says so; the screen keeps what it showed.
        }
        mutableState.update { if (it.selected?.id == ticketId) it.copy(selected = fresh) else it }
    }

    /** Runs an action on the open ticket, then shows the ticket as it is now. */
    private fun act(action: suspend (ticketId: String) -> Unit): Job = run {
        val ticketId = state.value.selected?.id ?: return@run
        try {
            action(ticketId)
        } finally {
            mutableState.update { it.copy(selected = fieldsync.get(ticketId)) }
        }
    }

    /** One operation at a time; a refusal or failure becomes the snackbar's message. */
    private fun run(block: suspend () -> Unit): Job = scope.launch {
        mutableState.update { it.copy(busy = true) }
        try {
            block()
        } catch (e: FieldsyncException) {
            mutableState.update { it.copy(message = e.reason) }
        } finally {
            mutableState.update { it.copy(busy = false) }
        }
    }
}
