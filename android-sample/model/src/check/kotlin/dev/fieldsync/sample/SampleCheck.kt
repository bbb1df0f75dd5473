// Runs the Android sample's screen model the way its screens use it, against the real library
// and a real server (scripts/test-bindings.sh passes the server's URL, an engineer's token and
// a ticket dispatched to them). Online the whole time: the library's background sync carries
// every action to the server. Prints one line per step and "N passed, M failed".
package dev.fieldsync.sample

import dev.fieldsync.ffi.Location
import dev.fieldsync.ffi.ServerConfig
import dev.fieldsync.ffi.Status
import dev.fieldsync.ffi.StrokePoint
import java.io.File
import kotlin.system.exitProcess
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

private var passed = 0
private var failed = 0

private fun check(name: String, condition: Boolean, detail: () -> String = { "" }) {
    if (condition) {
        passed++
        println("ok   $name")
    } else {
        failed++
        println("FAIL $name ${detail()}")
    }
}

fun main(args: Array<String>) {
    require(args.size == 4) { "usage: SampleCheck SERVER_URL ENGINEER_TOKEN TICKET_ID WORK_DIR" }
    val (url, token, ticketId, dir) = args
    try {
        runBlocking { screens(url, token, ticketId, File(dir)) }
    } catch (e: Throwable) {
        failed++
        println("FAIL stopped: $e")
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}

private suspend fun screens(url: String, token: String, ticketId: String, dir: File) {
    dir.mkdirs()
    val fieldsync = openStore(File(dir, "ana.sqlite").path, ServerConfig(url = url, token = token))
    // viewModelScope in the app.
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    val model = TicketsViewModel(fieldsync, scope)
    val state = model.state
    suspend fun Job.done() = join()

    println("step: the list screen, online")
    model.onConnectivityChanged(true)
    val listed = withTimeout(20_000) { state.first { s -> s.tickets.any { it.id == ticketId } } }
    check("the background sync brings the dispatched ticket to the list", listed.tickets.size == 1) { "$listed" }
    val bar = withTimeout(20_000) { state.first { s -> s.sync.let { it != null && it.online && it.lastSuccessAt != null } } }
    check("the status bar shows online and synced", bar.sync?.lastError == null) { "${bar.sync}" }

    println("step: the detail screen")
    model.open(ticketId).done()
    check("the ticket opens, dispatched", state.value.selected?.status == Status.DISPATCHED) { "${state.value.selected}" }
    model.accept().done()
    check("accept moves it to accepted", state.value.selected?.status == Status.ACCEPTED)
    model.accept().done()
    check(
        "accepting again shows the refusal: ${state.value.message}",
        state.value.message == "cannot accept: ticket is accepted" && state.value.selected?.status == Status.ACCEPTED,
    )
    model.messageShown()
    model.startTravel().done()
    model.checkIn(Location(lat = 52.3702, lon = 4.8952, accuracyM = 8.0)).done()
    model.startWork().done()
    model.addNote("Replaced the pressure valve; no more leak.").done()
    val stroke = (0..20).map { StrokePoint(x = 0.1f + it * 0.04f, y = 0.5f - (it % 4) * 0.05f, t = (it * 16).toUInt()) }
    model.sign("Customer", listOf(stroke)).done()
    model.complete("Valve replaced, tested at 1.5 bar.").done()
    val done = state.value.selected
    check("travel, check-in, work, note, signature, complete", done?.status == Status.COMPLETED && done.signature != null) {
        "${state.value}"
    }
    check("no snackbar after the valid actions", state.value.message == null) { "${state.value.message}" }
    check("nothing is running", !state.value.busy)

    println("step: the list and the status bar follow")
    withTimeout(20_000) { state.first { s -> s.tickets.any { it.id == ticketId && it.status == Status.COMPLETED } } }
    check("the list row shows completed", state.value.tickets.single { it.id == ticketId }.status == Status.COMPLETED)
    val synced = withTimeout(30_000) {
        state.first { s ->
            s.tickets.none { it.pending } && s.sync.let { it != null && it.pendingTickets == 0UL && it.pendingUploads == 0UL }
        }
    }
    check("the background sync sends it all (no pending ticket or upload)", synced.sync?.lastError == null) {
        "${synced.sync}"
    }
    scope.cancel()
    fieldsync.close()
}
