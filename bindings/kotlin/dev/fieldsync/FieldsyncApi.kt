// What an app uses of a fieldsync client, as an interface: code written against FieldsyncApi
// (a ViewModel, a repository, a WorkManager worker) takes the real client in the app and, in the
// app's own unit tests, the same client opened on a temporary store with
// `Fieldsync.inMemory(...)` (no server), or any fake the app prefers (docs/adr/0027).
package dev.fieldsync

import dev.fieldsync.core.Command
import kotlin.time.Duration
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.StateFlow

/**
 * A signed-in engineer's tickets on this device: every operation an app uses. [Fieldsync]
 * implements it; every failure is a `FieldsyncException`. See [Fieldsync] for what each does.
 */
interface FieldsyncApi : AutoCloseable {
    // ---- observation
    /** The sync status, hot: the current value at once, then each change. */
    val syncStatus: StateFlow<SyncStatus>
    /** The tickets on this device: the current list first, then the list after every change. */
    val tickets: Flow<List<TicketSummary>>
    /** One ticket's full view, now and after every change to it; null when not on this device. */
    fun observeTicket(ticketId: String): Flow<Ticket?>
    /** A live query: its result now, then whenever a change alters it, with the changed ids. */
    fun observeTickets(query: TicketQuery = TicketQuery()): Flow<TicketsUpdate>

    // ---- queries
    suspend fun list(filter: ListFilter = ListFilter()): List<TicketSummary>
    suspend fun query(query: TicketQuery): List<TicketSummary>
    suspend fun get(ticketId: String): Ticket
    suspend fun counts(): List<StatusCount>

    // ---- actions: each is on disk when it returns, and syncs later
    /**
     * Performs any action the core declares, e.g. `perform(id, Command.Hold("awaiting part
     * X-20"))`: checked by the same workflow as on every device and the server; a refusal is
     * `FieldsyncException.Refused` with its reason. `Command` is generated from the core's own
     * declaration (dev.fieldsync.core.Command), so an action added there is here with no edit
     * to this interface (docs/adr/0032). The only action method a fake must implement.
     */
    suspend fun perform(ticketId: String, command: Command)

    // Conveniences over [perform], one line each, for the actions every app calls; any other
    // action is `perform(ticketId, Command.X(...))`.
    suspend fun claim(ticketId: String) = perform(ticketId, Command.Claim)
    suspend fun accept(ticketId: String) = perform(ticketId, Command.Accept)
    suspend fun reject(ticketId: String, reason: String) = perform(ticketId, Command.Reject(reason))
    suspend fun startTravel(ticketId: String) = perform(ticketId, Command.StartTravel(null))
    /** Starts travelling and shares an ETA (UTC ms) with the customer's tracking page. */
    suspend fun startTravel(ticketId: String, etaMillis: Long) = perform(ticketId, Command.StartTravel(etaMillis))
    suspend fun checkIn(ticketId: String, location: Location) = perform(ticketId, Command.CheckIn(location))
    suspend fun startWork(ticketId: String) = perform(ticketId, Command.StartWork)
    suspend fun pause(ticketId: String) = perform(ticketId, Command.Pause)
    suspend fun resume(ticketId: String) = perform(ticketId, Command.Resume)
    suspend fun addNote(ticketId: String, text: String) = perform(ticketId, Command.AddNote(text))
    /** A note the customer sees on the tracking page (an answer to their message). */
    suspend fun addPublicNote(ticketId: String, text: String) = perform(ticketId, Command.AddPublicNote(text))
    suspend fun addPart(ticketId: String, sku: String, qty: UInt) = perform(ticketId, Command.AddPart(sku, qty))
    suspend fun logTime(ticketId: String, minutes: UInt, kind: String) = perform(ticketId, Command.LogTime(minutes, kind))
    suspend fun setChecklistItem(ticketId: String, item: String, done: Boolean) =
        perform(ticketId, Command.SetChecklistItem(item, done))
    suspend fun recordFeedback(ticketId: String, rating: UByte, comment: String) =
        perform(ticketId, Command.RecordFeedback(rating, comment))
    suspend fun complete(ticketId: String, summary: String) = perform(ticketId, Command.Complete(summary))
    /** Renders the strokes to a PNG, binds it to the job summary and records it: more than a [Command]. */
    suspend fun captureSignature(ticketId: String, signer: String, strokes: List<List<StrokePoint>>): Signature

    // ---- media and the report
    suspend fun jobSummary(ticketId: String): JobSummary
    suspend fun mediaFile(sha256: String): String?
    suspend fun addPhoto(ticketId: String, photo: NewPhoto): Photo
    suspend fun serviceReport(ticketId: String, options: ReportOptions = ReportOptions()): String

    // ---- sync and lifecycle
    suspend fun syncNow(): SyncReport
    suspend fun syncOnce(timeout: Duration): SyncOutcome
    fun setOnline(online: Boolean)
    /** Ends every Flow, stops sync, releases the store. Idempotent. */
    override fun close()
}
