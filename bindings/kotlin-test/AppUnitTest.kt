// What an app's own unit test looks like, without a server: a screen's model written against
// FieldsyncApi, tested on Fieldsync.inMemory(...), the real library on a temporary store
// (docs/adr/0027). It imports dev.fieldsync only: the generated layer below the wrapper is
// internal, and this file would not compile if an app needed it. The lines between
// `// readme:begin` and `// readme:end` are the README's "Test your app without a server"
// snippet for Kotlin, word for word; `check` is this program's assertion (assertEquals in an
// app's tests).
package dev.fieldsync.test

import dev.fieldsync.Fieldsync
import dev.fieldsync.FieldsyncApi
import dev.fieldsync.FieldsyncException
import dev.fieldsync.SeedTicket
import dev.fieldsync.Status
import dev.fieldsync.SyncFailureKind
import dev.fieldsync.Ticket
import dev.fieldsync.reason
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout

// readme:begin
/** The app's code: it takes any FieldsyncApi (the app passes its Fieldsync). */
class JobScreen(private val fieldsync: FieldsyncApi) {
    /** Accepts the job; the text to show when that is refused. */
    suspend fun acceptTapped(ticketId: String): String? = try {
        fieldsync.accept(ticketId)
        null
    } catch (e: FieldsyncException) {
        e.reason
    }
}

/** The app's unit test: the real store and workflow, no server. */
suspend fun acceptingTwiceShowsWhy() {
    Fieldsync.inMemory(listOf(SeedTicket(title = "Boiler leaks", customer = "Acme Bakery", address = "Main St 1")))
        .use { fieldsync ->
            val screen = JobScreen(fieldsync)
            val ticketId = fieldsync.list().single().id
            check("the first tap accepts", screen.acceptTapped(ticketId) == null)
            check("the second says why", screen.acceptTapped(ticketId) == "cannot accept: ticket is accepted")
        }
}
// readme:end

/**
 * The rest of what an app's tests get from an in-memory client: observation, typed errors, a
 * sync status that says there is no server.
 */
internal suspend fun CoroutineScope.inMemory() {
    println("step: an app's unit test, in memory")
    acceptingTwiceShowsWhy()
    val api: FieldsyncApi = Fieldsync.inMemory(
        listOf(
            SeedTicket(title = "Boiler leaks", customer = "Acme Bakery", address = "Main St 1", checklist = listOf("Valve")),
            SeedTicket(title = "No hot water", customer = "Baker Brothers", address = "Side St 2"),
        ),
    )
    api.use {
        val listed = api.list()
        check("the in-memory store has its two tickets, dispatched, nothing pending",
            listed.size == 2 && listed.all { it.index.status == Status.DISPATCHED && !it.pending }) { "$listed" }
        val ticketId = listed.first { it.index.title == "Boiler leaks" }.id
        val travelling = launch(Dispatchers.Default) {
            val seen: Ticket? = withTimeout(10_000) { api.observeTicket(ticketId).first { it?.status == Status.TRAVELLING } }
            check("observeTicket follows the actions", seen?.checklist?.single()?.item == "Valve") { "$seen" }
        }
        api.accept(ticketId)
        api.startTravel(ticketId)
        travelling.join()
        expectThrows<FieldsyncException.Refused>("accepting a travelling ticket is refused") { api.accept(ticketId) }
        expectThrows<FieldsyncException.Network>("a sync without a server is a network failure") { api.syncNow() }
        val status = withTimeout(10_000) { api.syncStatus.first { it.lastErrorKind != null } }
        check("the status says so, typed: ${status.lastError}",
            status.lastErrorKind == SyncFailureKind.NETWORK && status.lastError?.contains("no server") == true) { "$status" }
        check("the actions wait, pending", api.list().single { it.id == ticketId }.pending)
    }
    expectThrows<FieldsyncException.Closed>("the in-memory client is closed like any other") { api.list() }
}
