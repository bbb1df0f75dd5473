// What an app uses of a fieldsync client, as an interface: code written against FieldsyncApi
// (a ViewModel, a repository, a WorkManager worker) takes the real client in the app and, in the
// app's own unit tests, the same client opened on a temporary store with
// `Fieldsync.inMemory(...)` (no server), or any fake the app prefers (docs/adr/0027).
package dev.fieldsync

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
    suspend fun claim(ticketId: String)
    suspend fun accept(ticketId: String)
    suspend fun reject(ticketId: String, reason: String)
    suspend fun startTravel(ticketId: String)
    suspend fun startTravel(ticketId: String, etaMillis: Long)
    suspend fun checkIn(ticketId: String, location: Location)
    suspend fun startWork(ticketId: String)
    suspend fun pause(ticketId: String)
    suspend fun resume(ticketId: String)
    suspend fun addNote(ticketId: String, text: String)
    suspend fun addPublicNote(ticketId: String, text: String)
    suspend fun addPart(ticketId: String, sku: String, qty: UInt)
    suspend fun logTime(ticketId: String, minutes: UInt, kind: String)
    suspend fun setChecklistItem(ticketId: String, item: String, done: Boolean)
    suspend fun recordFeedback(ticketId: String, rating: UByte, comment: String)
    suspend fun complete(ticketId: String, summary: String)
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
