// Runs the Android sample's screen model the way its screens use it, against the real library
// and a real server (scripts/test-bindings.sh passes the server's URL, an engineer's token and
// a ticket dispatched to them). Online the whole time: the library's background sync carries
// every action to the server. Prints one line per step and "N passed, M failed".
package dev.fieldsync.sample

import dev.fieldsync.Fieldsync
import dev.fieldsync.FieldsyncException
import dev.fieldsync.Location
import dev.fieldsync.ServerConfig
import dev.fieldsync.Status
import dev.fieldsync.StrokePoint
import java.awt.image.BufferedImage
import java.io.File
import java.security.SecureRandom
import javax.imageio.ImageIO
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
    System.setProperty("java.awt.headless", "true") // the photo is drawn with java.awt, no display
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
    val server = ServerConfig(url = url, token = token)
    val store = File(dir, "ana.sqlite")
    // The app's KeystoreStoreKey makes 32 random bytes once; here, the same without a Keystore.
    val storeKey = ByteArray(32).also { SecureRandom().nextBytes(it) }

    println("step: the store, from an earlier plaintext build to encrypted")
    Fieldsync.signIn(store.path, server).close()
    check("a build without encryption left a plaintext store", isPlaintextStore(store))
    val fieldsync = openStore(store.path, server, storeKey)
    check("openStore encrypted it once and opened it with the key", !isPlaintextStore(store) && store.length() > 0)
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
    model.pause().done()
    check("pause", state.value.selected?.status == Status.PAUSED) { "${state.value}" }
    model.resume().done()
    check("resume", state.value.selected?.status == Status.WORKING) { "${state.value}" }
    model.addNote("Replaced the pressure valve; no more leak.").done()
    model.addPart("VALVE-22", 1u).done()
    model.logTime(45u, "labour").done()
    // What TakePicture writes into the FileProvider file: here an image drawn with java.awt.
    val photo = File(dir, "camera.png")
    ImageIO.write(BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB).apply {
        createGraphics().run { color = java.awt.Color(200, 80, 40); fillRect(100, 100, 300, 200); dispose() }
    }, "png", photo)
    model.addPhoto(photo.path, "The new valve", Location(lat = 52.3702, lon = 4.8952, accuracyM = 8.0)).done()
    val worked = state.value.selected
    check(
        "note, part, time and photo are on the ticket",
        worked != null && worked.notes.size == 1 && worked.parts.singleOrNull()?.sku == "VALVE-22" &&
            worked.timeEntries.singleOrNull()?.minutes == 45u && worked.photos.singleOrNull()?.caption == "The new valve",
    ) { "${state.value}" }
    val stroke = (0..20).map { StrokePoint(x = 0.1f + it * 0.04f, y = 0.5f - (it % 4) * 0.05f, t = (it * 16).toUInt()) }
    model.sign("Customer", listOf(stroke)).done()
    model.complete("Valve replaced, tested at 1.5 bar.").done()
    val done = state.value.selected
    check("travel, check-in, work, signature, complete", done?.status == Status.COMPLETED && done.signature != null) {
        "${state.value}"
    }
    check("no snackbar after the valid actions", state.value.message == null) { "${state.value.message}" }
    check("nothing is running", !state.value.busy)

    println("step: the list and the status bar follow")
    withTimeout(20_000) { state.first { s -> s.tickets.any { it.id == ticketId && it.index.status == Status.COMPLETED } } }
    check("the list row shows completed", state.value.tickets.single { it.id == ticketId }.index.status == Status.COMPLETED)
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

    println("step: the store opens only with its key")
    val before = store.readBytes()
    val wrongKey = try {
        openStore(store.path, server, ByteArray(32) { 7 }).close()
        "opened"
    } catch (e: FieldsyncException.WrongKey) {
        "WrongKey"
    }
    check("a wrong key is WrongKey and leaves the store as it was", wrongKey == "WrongKey" && store.readBytes().contentEquals(before)) {
        wrongKey
    }
    val reopened = openStore(store.path, server, storeKey)
    check("the right key opens it, the ticket completed", reopened.get(ticketId).status == Status.COMPLETED)
    reopened.close()

    println("step: the screens and SyncWorker share one client")
    val shared = SharedStore { openStore(store.path, server, storeKey) }
    val screensClient = shared.acquire()
    val inUse = try {
        openStore(store.path, server, storeKey).close()
        "opened twice"
    } catch (e: FieldsyncException.StoreInUse) {
        "StoreInUse"
    }
    check("a second client of the open store is refused: $inUse", inUse == "StoreInUse")
    val result = backgroundSync(shared)
    check("SyncWorker's sync on the screens' client: $result", result == WorkResult.SUCCESS)
    check("the screens still hold it", shared.holders() == 1 && screensClient.list().isNotEmpty())
    shared.release()
    // As when WorkManager starts the process with no screen up: the worker opens it and closes it.
    val alone = backgroundSync(shared)
    check("a worker with no screen up opens and closes it: $alone", alone == WorkResult.SUCCESS && shared.holders() == 0)
    openStore(store.path, server, storeKey).close()
    check("after the last release the store is free", true)
}
