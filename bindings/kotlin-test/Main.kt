// The Kotlin bindings, run for real: a JVM, JNA, the fieldsync library and a real server
// (started by scripts/test-bindings.sh, which passes its URL, an engineer's token and the id of
// a ticket dispatched to that engineer). Prints one line per step and ends with
// "N passed, M failed"; exits non-zero on any failure.
//
// Over HTTPS, the script's server has a certificate from a private CA made for the run, trusted
// the way the JVM trusts a CA (-Djavax.net.ssl.trustStore): every request goes through
// OkHttpTransport, the transport an Android app uses. With a fifth argument, a trust store
// holding another CA only, the program also checks that such a device ends in a typed TLS
// error, promptly.
//
// The lines between `// readme:begin` and `// readme:end` are the README's "Use it from Kotlin"
// snippet, word for word (checked by scripts/readme-snippets.py). Nothing here imports the
// generated layer below the wrapper: an app's code needs only dev.fieldsync (docs/adr/0027);
// AppUnitTest.kt is an app's own unit test, on an in-memory store.
package dev.fieldsync.test

import dev.fieldsync.Fieldsync
import dev.fieldsync.OkHttpTransport
import dev.fieldsync.FieldsyncException
import dev.fieldsync.ListFilter
import dev.fieldsync.LogLevel
import dev.fieldsync.HttpTransport
import dev.fieldsync.Location
import dev.fieldsync.NewPhoto
import dev.fieldsync.ReportOptions
import dev.fieldsync.ServerConfig
import dev.fieldsync.Status
import dev.fieldsync.StrokePoint
import dev.fieldsync.SyncFailureKind
import dev.fieldsync.SyncOutcome
import dev.fieldsync.SyncStatus
import dev.fieldsync.Ticket
import dev.fieldsync.TicketQuery
import dev.fieldsync.TicketSort
import dev.fieldsync.TicketsUpdate
import dev.fieldsync.TicketSummary
import dev.fieldsync.TransportRequest
import dev.fieldsync.TransportResponse
import dev.fieldsync.reason
import dev.fieldsync.core.Command
import java.awt.Color
import java.awt.image.BufferedImage
import java.io.File
import java.security.KeyStore
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.atomic.AtomicBoolean
import javax.imageio.ImageIO
import kotlin.system.exitProcess
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

/** Held: java.util.logging keeps loggers weakly, and a collected one loses its handlers. */
private val julParent: java.util.logging.Logger = java.util.logging.Logger.getLogger("dev.fieldsync")

private var passed = 0
private var failed = 0

internal fun check(name: String, condition: Boolean, detail: () -> String = { "" }) {
    if (condition) {
        passed++
        println("ok   $name")
    } else {
        failed++
        println("FAIL $name ${detail()}")
    }
}

/** Runs [block] and checks that it throws exactly [T]. */
internal inline fun <reified T : FieldsyncException> expectThrows(name: String, block: () -> Unit) {
    try {
        block()
        check(name, false) { "no exception" }
    } catch (e: FieldsyncException) {
        check("$name -> ${e::class.simpleName}: ${e.reason}", e is T) { "expected ${T::class.simpleName}" }
    }
}

/** A camera-like JPEG, made with the JDK. */
private fun writeJpeg(file: File) {
    val image = BufferedImage(1200, 900, BufferedImage.TYPE_INT_RGB)
    val g = image.createGraphics()
    g.color = Color(30, 90, 160)
    g.fillRect(0, 0, 1200, 900)
    g.color = Color.ORANGE
    g.fillOval(300, 200, 600, 500)
    g.dispose()
    require(ImageIO.write(image, "jpg", file)) { "no JPEG writer" }
}

// The generated FieldsyncClient.perform is a suspend function (an async export, docs/adr/0032):
// on the JVM a suspend function takes a Continuation last. A blocking perform would still compile
// inside the wrapper's `suspend fun perform` (and block the caller's dispatcher), so it is checked
// here, on the class itself (internal to the library, so by name).
fun generatedPerformIsSuspend() {
    val performs = Class.forName("dev.fieldsync.FieldsyncClient").declaredMethods.filter { it.name == "perform" }
    check("the generated FieldsyncClient.perform is suspend",
        performs.isNotEmpty() && performs.all { it.parameterTypes.lastOrNull() == kotlin.coroutines.Continuation::class.java }) {
        performs.joinToString { it.toGenericString() }
    }
}

fun main(args: Array<String>) {
    require(args.size == 4 || args.size == 5) {
        "usage: Main SERVER_URL ENGINEER_TOKEN TICKET_ID WORK_DIR [UNTRUSTED_CA_TRUST_STORE]"
    }
    val (url, token, ticketId, workDir) = args
    // The wrapper's default logger is java.util.logging: what it got from the first flow.
    val julRecords = CopyOnWriteArrayList<java.util.logging.LogRecord>()
    julParent.addHandler(object : java.util.logging.Handler() {
        override fun publish(record: java.util.logging.LogRecord) { julRecords.add(record) }
        override fun flush() {}
        override fun close() {}
    })
    try {
        generatedPerformIsSuspend()
        runBlocking {
            inMemory()
            flow(url, token, ticketId, File(workDir))
            check("by default the library logs to java.util.logging (${julRecords.size} records)",
                julRecords.any { it.loggerName == "dev.fieldsync.sync" && it.message.startsWith("sync attempt") }) {
                julRecords.take(5).joinToString { "${it.loggerName}: ${it.message}" }
            }
            lifecycle(url, token, ticketId, File(workDir))
            logging(url, token, ticketId, File(workDir))
            if (args.size == 5) untrusted(url, token, File(args[4]), File(workDir))
            failingTransport(url, token, File(workDir))
            signedOut(url, token, File(workDir))
        }
    } catch (e: Throwable) {
        failed++
        println("FAIL stopped: $e")
        e.printStackTrace(System.out)
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}

private suspend fun kotlinx.coroutines.CoroutineScope.flow(url: String, token: String, ticketId: String, dir: File) {
    dir.mkdirs()
    val storePath = File(dir, "eli.sqlite").path
    val serverUrl = url
    // Every list and every status the library pushes, from the start.
    val lists = CopyOnWriteArrayList<List<TicketSummary>>()
    val statuses = CopyOnWriteArrayList<SyncStatus>()

    // readme:begin
    val fieldsync = Fieldsync.signIn(storePath, ServerConfig(url = serverUrl, token = token))
    val listening = launch(Dispatchers.Default) { fieldsync.tickets.collect { list -> lists.add(list) } }
    val watching = launch(Dispatchers.Default) { fieldsync.syncStatus.collect { status -> statuses.add(status) } }
    // readme:end
    println("step: signed in, store open, listening")

    println("step: first sync")
    val first = fieldsync.syncNow()
    check("sync_now receives the dispatched ticket", ticketId in first.received) { "$first" }
    val listed = fieldsync.list()
    check("list shows it, dispatched", listed.any { it.id == ticketId && it.index.status == Status.DISPATCHED }) { "$listed" }
    check("counts has one dispatched", fieldsync.counts().any { it.status == Status.DISPATCHED && it.count == 1UL })
    withTimeout(10_000) { fieldsync.tickets.first { l -> l.any { it.id == ticketId } } }
    check("the tickets Flow pushes the current list first", true)

    println("step: observe the ticket and a query")
    val views = CopyOnWriteArrayList<Ticket?>()
    val updates = CopyOnWriteArrayList<TicketsUpdate>()
    // readme:begin
    val boilers = TicketQuery(filter = ListFilter(text = "boiler"), sort = TicketSort.TITLE, limit = 1u)
    val viewing = launch(Dispatchers.Default) { fieldsync.observeTicket(ticketId).collect { views.add(it) } }
    val querying = launch(Dispatchers.Default) { fieldsync.observeTickets(boilers).collect { updates.add(it) } }
    // readme:end
    withTimeout(10_000) { while (views.isEmpty() || updates.isEmpty()) delay(10) }
    check("observeTicket emits the ticket at once", views.single()?.id == ticketId) { "$views" }
    check(
        "observeTickets emits the query's result at once, its ids as changed",
        updates.single().tickets.map { it.id } == listOf(ticketId) && updates.single().changedIds == listOf(ticketId),
    ) { "$updates" }
    val missing = withTimeout(10_000) { fieldsync.observeTicket("no-such-ticket").first() }
    check("a ticket not on this device is observed as null", missing == null)
    val others = withTimeout(10_000) {
        fieldsync.observeTickets(TicketQuery(filter = ListFilter(text = "no such title"))).first()
    }
    check("a query that matches nothing emits an empty result", others.tickets.isEmpty() && others.changedIds.isEmpty())
    val openBefore = fieldsync.openSubscriptions
    val brief = launch(Dispatchers.Default) { fieldsync.observeTicket(ticketId).collect {} }
    withTimeout(10_000) { while (fieldsync.openSubscriptions == openBefore) delay(10) }
    brief.cancel()
    withTimeout(10_000) { while (fieldsync.openSubscriptions != openBefore) delay(10) }
    check("cancelling a collector ends its subscription ($openBefore open)", fieldsync.openSubscriptions == openBefore)

    println("step: offline from here, accept")
    // readme:begin
    fieldsync.setOnline(false)                 // from the connectivity callback
    fieldsync.accept(ticketId)                 // on disk when it returns; syncs later
    var refusal: String? = null
    try {
        fieldsync.accept(ticketId)
    } catch (e: FieldsyncException.Refused) {
        refusal = e.reason                     // "cannot accept: ticket is accepted"
    }
    // readme:end
    check("accepting twice is refused: $refusal", refusal == "cannot accept: ticket is accepted")
    expectThrows<FieldsyncException.NotFound>("an unknown ticket is not found") { fieldsync.get("no-such-ticket") }
    println("step: travel")
    fieldsync.startTravel(ticketId)
    println("step: check in")
    expectThrows<FieldsyncException.InvalidInput>("a fix off the planet is invalid input") {
        fieldsync.checkIn(ticketId, Location(lat = 200.0, lon = 4.9, accuracyM = 5.0))
    }
    // readme:begin
    fieldsync.checkIn(ticketId, Location(lat = 52.3702, lon = 4.8952, accuracyM = 8.0))
    // readme:end
    fieldsync.startWork(ticketId)
    println("step: hold, through perform (an action no wrapper method names)")
    expectThrows<FieldsyncException.InvalidInput>("a hold without a reason is invalid input") {
        fieldsync.perform(ticketId, Command.Hold(" "))
    }
    fieldsync.perform(ticketId, Command.Hold("awaiting part VALVE-22"))
    val held = fieldsync.get(ticketId).status
    check("a hold pauses the work ($held)", held == Status.PAUSED)
    fieldsync.resume(ticketId)
    println("step: note, part, time")
    fieldsync.addNote(ticketId, "Replaced the pressure valve; no more leak.")
    fieldsync.addPart(ticketId, "VALVE-22", 1u)
    fieldsync.logTime(ticketId, 45u, "labour")

    println("step: photo")
    val jpeg = File(dir, "boiler.jpg")
    writeJpeg(jpeg)
    // readme:begin
    val photo = fieldsync.addPhoto(ticketId, NewPhoto(path = jpeg.path, caption = "new valve"))
    // readme:end
    check("add_photo processes the JPEG (${photo.width}x${photo.height})", photo.width == 1200u && photo.height == 900u) {
        "$photo"
    }
    expectThrows<FieldsyncException.InvalidInput>("a photo that is not an image is invalid input") {
        val text = File(dir, "not-a-photo.jpg").apply { writeText("hello") }
        fieldsync.addPhoto(ticketId, NewPhoto(path = text.path))
    }
    // A photo that is not a file: what an app reads from a content:// Uri.
    val pixels = BufferedImage(640, 480, BufferedImage.TYPE_INT_RGB).apply {
        createGraphics().run { color = Color(200, 60, 40); fillRect(40, 40, 400, 300); dispose() }
    }
    val streamed = java.io.ByteArrayOutputStream().also { ImageIO.write(pixels, "jpg", it) }.toByteArray()
    val fromBytes = fieldsync.addPhoto(ticketId, NewPhoto(bytes = streamed, caption = "from a content:// Uri"))
    check("a photo from bytes is processed too (${fromBytes.width}x${fromBytes.height})", fromBytes.width == 640u)

    println("step: signature")
    val stroke = (0..20).map { StrokePoint(x = 0.1f + it * 0.04f, y = 0.5f + (it % 3) * 0.05f, t = (it * 16).toUInt()) }
    val shown = fieldsync.jobSummary(ticketId)
    val digest = java.security.MessageDigest.getInstance("SHA-256").digest(shown.text.toByteArray(Charsets.UTF_8))
    check(
        "the job summary shows the work, parts and photos, and its text hashes to its sha256",
        shown.work == listOf("Replaced the pressure valve; no more leak.") && shown.parts.single().sku == "VALVE-22" &&
            shown.photos.size == 2 && digest.joinToString("") { "%02x".format(it) } == shown.sha256,
    ) { "$shown" }
    // readme:begin
    val signature = fieldsync.captureSignature(ticketId, "Customer", listOf(stroke))
    fieldsync.complete(ticketId, "Valve replaced, tested at 1.5 bar.")
    // readme:end
    check("capture_signature records it", signature.pngSha256.length == 64) { "$signature" }
    check("the signature binds exactly the summary shown", signature.summarySha256 == shown.sha256) { "$signature" }

    println("step: media back out as files")
    for ((what, sha256) in listOf("photo" to photo.sha256, "thumbnail" to photo.thumbnailSha256, "signature" to signature.pngSha256)) {
        val path = fieldsync.mediaFile(sha256)
        val bytes = path?.let { File(it).readBytes() }
        val hash = bytes?.let { b -> java.security.MessageDigest.getInstance("SHA-256").digest(b).joinToString("") { "%02x".format(it) } }
        check("the $what is a file an image loader reads ($path)", hash == sha256) { "$path" }
    }
    check("the signature's file is a PNG", fieldsync.mediaFile(signature.pngSha256)!!.endsWith(".png"))
    check("a blob not on this device has no file", fieldsync.mediaFile("0".repeat(64)) == null)

    println("step: service report")
    val pdf = File(fieldsync.serviceReport(ticketId, ReportOptions(outDir = dir.path, utcOffsetMinutes = 480)))
    check("service_report writes a PDF (${pdf.length()} bytes)", pdf.readBytes().take(5) == "%PDF-".toByteArray().toList()) {
        "$pdf"
    }
    expectThrows<FieldsyncException.Report>("no usable font is a typed Report error") {
        fieldsync.serviceReport(ticketId, ReportOptions(fontPath = File(dir, "no-such-font.ttf").path))
    }

    println("step: complete")
    val done = fieldsync.get(ticketId)
    check("the ticket is completed on the device", done.status == Status.COMPLETED) { "${done.status}" }
    check(
        "it holds the note, the photo and the signature",
        done.notes.size == 1 && done.photos.size == 2 && done.signature != null,
    ) { "$done" }
    check("it is pending while offline", fieldsync.list().single { it.id == ticketId }.pending)
    expectThrows<FieldsyncException.Refused>("completing twice is refused") {
        fieldsync.complete(ticketId, "again")
    }
    withTimeout(10_000) {
        fieldsync.tickets.first { l -> l.any { it.id == ticketId && it.index.status == Status.COMPLETED } }
    }
    check("the tickets Flow pushed the completed ticket", lists.any { l -> l.any { it.index.status == Status.COMPLETED } }) {
        "${lists.size} lists"
    }

    println("step: sync_now")
    // readme:begin
    val report = fieldsync.syncNow()           // suspend; runs on the library's threads
    // readme:end
    check("sync_now pushes the ticket", ticketId in report.pushed) { "$report" }
    check("and uploads the photos, their thumbnails and the signature", report.uploaded.size == 5) { "$report" }
    val queued = statuses.firstOrNull { it.syncing && it.uploads.isNotEmpty() }?.uploads.orEmpty()
    check(
        "the status listed each upload as the sync began, with its progress (${queued.size})",
        queued.size == 5 && queued.all { it.ticketId == ticketId && it.size > 0UL && it.sent == 0UL },
    ) { "$queued" }
    check("nothing is pending afterwards", !fieldsync.list().single { it.id == ticketId }.pending)
    val settled = withTimeout(10_000) {
        fieldsync.syncStatus.first { it.lastSuccessAt != null && !it.syncing && it.pendingTickets == 0UL }
    }
    check("the sync status Flow reports success", settled.lastError == null && settled.pendingUploads == 0UL) {
        "$settled"
    }
    check("the status lists no upload left", settled.uploads.isEmpty()) { "${settled.uploads}" }

    println("step: listeners")
    withTimeout(10_000) { while (statuses.none { it.lastSuccessAt != null && it.pendingTickets == 0UL }) delay(10) }
    check("the status listener saw the sync succeed (${statuses.size} statuses)", statuses.size >= 2)
    check("the tickets listener saw every change (${lists.size} lists)", lists.size >= 2)
    check(
        "observeTicket followed every step up to completed (${views.size} views)",
        views.size >= 5 && views.last()?.status == Status.COMPLETED && views.none { it == null },
    ) { "${views.map { it?.status }}" }
    check(
        "each query update names the changed ticket (${updates.size} updates)",
        updates.all { it.changedIds == listOf(ticketId) } && updates.last().tickets.single().index.status == Status.COMPLETED,
    ) { "${updates.map { it.changedIds }}" }
    val current = fieldsync.syncStatus.value
    check("the sync status is hot: a new collector gets the current status at once",
        withTimeout(1_000) { fieldsync.syncStatus.first() } == current) { "$current" }
    watching.cancel()
    println("step: close ends every Flow")
    val lateViews = async(Dispatchers.Default) { fieldsync.observeTicket(ticketId).toList() }
    withTimeout(10_000) { while (fieldsync.openSubscriptions != 5) delay(10) }
    check("four Flows and the status feed open before close", fieldsync.openSubscriptions == 5) {
        "${fieldsync.openSubscriptions}"
    }
    fieldsync.close()
    withTimeout(10_000) {
        listening.join()
        viewing.join()
        querying.join()
        lateViews.await()
    }
    check("close() completes every collector", !listening.isCancelled && !viewing.isCancelled && !querying.isCancelled)
    check("and leaves no subscription open", fieldsync.openSubscriptions == 0) { "${fieldsync.openSubscriptions}" }
    val afterClose = withTimeout(10_000) { fieldsync.observeTicket(ticketId).toList() }
    check("a Flow collected after close() ends at once", afterClose.isEmpty()) { "$afterClose" }

    println("step: encrypted store")
    val server = ServerConfig(url = serverUrl, token = token)
    val key = ByteArray(32) { (it * 7 + 1).toByte() }
    val lockedPath = File(dir, "eli-encrypted.sqlite").path
    Fieldsync.signIn(lockedPath, server, storeKey = key).use { locked ->
        locked.syncNow()
        val tickets = locked.list()
        check("an encrypted store syncs and lists", tickets.any { it.id == ticketId }) { "$tickets" }
    }
    val before = File(lockedPath).readBytes()
    val identity = Fieldsync.whoAmI(server)
    expectThrows<FieldsyncException.WrongKey>("a wrong key is refused") {
        Fieldsync.open(lockedPath, identity, server, storeKey = ByteArray(32) { 9 }).close()
    }
    expectThrows<FieldsyncException.WrongKey>("no key for an encrypted store is refused") {
        Fieldsync.open(lockedPath, identity, server).close()
    }
    check("and the store file is left as it was", File(lockedPath).readBytes().contentEquals(before))
    Fieldsync.open(lockedPath, identity, server, storeKey = key).use { reopened ->
        check("the right key opens it again", reopened.list().any { it.id == ticketId })
    }
}

/**
 * Passes requests to [inner]; while [stall] is set, a sync's answer is held after the server
 * has applied it (the server stalls, as far as the library can tell) until [release].
 */
private class StallingTransport(private val inner: HttpTransport) : HttpTransport {
    val stall = AtomicBoolean(false)
    @Volatile var stalled = CompletableDeferred<Unit>()
    @Volatile private var held = CountDownLatch(1)

    override fun send(request: TransportRequest): TransportResponse {
        val response = inner.send(request)
        if (stall.get() && request.method == "POST" && request.url.endsWith("/v1/sync")) {
            stalled.complete(Unit)
            held.await()
        }
        return response
    }

    fun release() {
        held.countDown()
        held = CountDownLatch(1)
        stalled = CompletableDeferred()
    }
}

/** One client per store, cancelling a sync the server stalls, syncOnce, close (docs/adr/0021). */
private suspend fun kotlinx.coroutines.CoroutineScope.lifecycle(url: String, token: String, ticketId: String, dir: File) {
    println("step: lifecycle: one client per store")
    val server = ServerConfig(url = url, token = token)
    val identity = Fieldsync.whoAmI(server)
    val path = File(dir, "eli-lifecycle.sqlite").path
    val stalling = StallingTransport(OkHttpTransport.platform)
    val fieldsync = Fieldsync.open(path, identity, server, transport = stalling)
    expectThrows<FieldsyncException.StoreInUse>("a second client of an open store is refused") {
        Fieldsync.open(path, identity, server).close()
    }
    check("and the first works on", fieldsync.list().isEmpty())

    println("step: lifecycle: syncOnce for WorkManager")
    // readme:begin
    val outcome = fieldsync.syncOnce(timeout = 30.seconds)   // a CoroutineWorker's doWork()
    val result = when (outcome) {
        is SyncOutcome.Synced -> "success"     // Result.success()
        is SyncOutcome.Retry -> "retry"        // Result.retry(): no network, server busy, out of time
        is SyncOutcome.Failed -> "failure"     // Result.failure(); outcome.needsSignIn: ask to sign in
    }
    // readme:end
    check("syncOnce: $result, the ticket arrived", outcome is SyncOutcome.Synced && ticketId in outcome.report.received) {
        "$outcome"
    }
    fieldsync.recordFeedback(ticketId, 5u, "quick and tidy")

    println("step: lifecycle: cancel a sync the server stalls")
    stalling.stall.set(true)
    val syncing = launch(Dispatchers.Default) { fieldsync.syncNow() }
    withTimeout(20_000) { stalling.stalled.await() }
    val started = System.nanoTime()
    withTimeout(5_000) { syncing.cancelAndJoin() }
    val seconds = (System.nanoTime() - started) / 1e9
    check("cancelling the coroutine ends syncNow at once (%.2f s)".format(seconds), syncing.isCancelled && seconds < 2)
    val afterCancel = withTimeout(10_000) { fieldsync.syncStatus.first { !it.syncing } }
    check(
        "the status stops saying syncing; the feedback is still pending, no error",
        afterCancel.pendingTickets == 1UL && afterCancel.lastErrorKind == null,
    ) { "$afterCancel" }
    check(
        "the store is as it was: the feedback there, pending",
        fieldsync.get(ticketId).feedback?.rating == 5.toUByte() && fieldsync.list().single().pending,
    )
    stalling.stall.set(false)
    stalling.release()
    val next = fieldsync.syncOnce(timeout = 30.seconds)
    check("the next sync completes it, once", next is SyncOutcome.Synced && ticketId in next.report.pushed) { "$next" }
    // The StateFlow hears of it from the library's thread, a moment after syncOnce returns.
    val drained = withTimeout(10_000) { fieldsync.syncStatus.first { it.pendingTickets == 0UL && !it.syncing } }
    check("nothing pending afterwards", drained.lastErrorKind == null && !fieldsync.list().single().pending)
    stalling.stall.set(true)
    val late = fieldsync.syncOnce(timeout = 1.seconds)
    check("a syncOnce out of time says Retry", late is SyncOutcome.Retry && late.kind == SyncFailureKind.NETWORK) { "$late" }
    stalling.stall.set(false)
    stalling.release()

    println("step: lifecycle: close releases the store")
    fieldsync.close()
    fieldsync.close()
    check("close() is idempotent", true)
    expectThrows<FieldsyncException.Closed>("a call after close()") { fieldsync.list() }
    Fieldsync.open(path, identity, server).use { again ->
        check("the store opens again at once, with its data", again.get(ticketId).feedback?.rating == 5.toUByte())
    }
}

/** The app's own logger: sync lines arrive, no customer data at INFO (docs/adr/0021). */
private suspend fun logging(url: String, token: String, ticketId: String, dir: File) {
    println("step: the app's logger")
    val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
    // readme:begin
    Fieldsync.setLogger(LogLevel.DEBUG) { level, target, message -> lines.add(Triple(level, target, message)) }
    // readme:end
    val server = ServerConfig(url = url, token = token)
    val identity = Fieldsync.whoAmI(server)
    Fieldsync.open(File(dir, "eli-logging.sqlite").path, identity, server).use { fieldsync ->
        val report = fieldsync.syncNow()
        check("a sync brings the ticket", ticketId in report.received)
        val ticket = fieldsync.get(ticketId)
        val attempt = lines.firstOrNull { it.second == "fieldsync::sync" && it.third.startsWith("sync attempt") }
        check("the logger got a sync-attempt line: ${attempt?.third}", attempt?.first == LogLevel.INFO)
        check("and the outcome", lines.any { it.first == LogLevel.INFO && it.third.startsWith("sync done") && "received=1" in it.third }) {
            "${lines.map { it.third }}"
        }
        check("and the round trips at DEBUG", lines.any { it.first == LogLevel.DEBUG && it.third.startsWith("round trip") })
        // What the dispatcher wrote (scripts/test-bindings.sh): never in the log at INFO or above.
        val personal = listOf(ticket.customer.name, ticket.customer.address, ticket.title, identity.userId)
        check("the ticket has its customer (${ticket.customer.name})", ticket.customer.name == "Acme Bakery")
        val leaks = lines.filter { it.first <= LogLevel.INFO && personal.any { p -> p in it.third } }
        check("no customer name, address, title or user at INFO and above (${lines.size} lines)", leaks.isEmpty()) {
            "$leaks"
        }
    }
    Fieldsync.clearLogger()
}

/** A device whose trust store holds another CA than the server's: a typed TLS error, not a hang. */
private suspend fun untrusted(url: String, token: String, trustStore: File, dir: File) {
    println("step: a server whose certificate this device does not trust")
    val store = KeyStore.getInstance("PKCS12")
    trustStore.inputStream().use { store.load(it, "fieldsync-test".toCharArray()) }
    val wary = OkHttpTransport.trusting(store)
    val server = ServerConfig(url = url, token = token)
    expectThrows<FieldsyncException.Tls>("signing in ends in a TLS error") { Fieldsync.whoAmI(server, wary) }
    val identity = Fieldsync.whoAmI(server)
    Fieldsync.open(File(dir, "eli-wary.sqlite").path, identity, server, transport = wary).use { fieldsync ->
        val started = System.nanoTime()
        expectThrows<FieldsyncException.Tls>("sync_now ends in a TLS error") { withTimeout(20_000) { fieldsync.syncNow() } }
        val seconds = (System.nanoTime() - started) / 1e9
        check("at once, not after a timeout (%.2f s)".format(seconds), seconds < 5)
        val status = withTimeout(10_000) { fieldsync.syncStatus.first { it.lastErrorKind != null } }
        check("the sync status says TLS, typed", status.lastErrorKind == SyncFailureKind.TLS) { "$status" }
    }
}

/** An app transport that throws something unexpected: a failed sync, never a crash. */
private suspend fun failingTransport(url: String, token: String, dir: File) {
    println("step: an app transport that throws")
    val broken = object : HttpTransport {
        override fun send(request: TransportRequest): TransportResponse = throw IllegalStateException("transport bug")
    }
    val server = ServerConfig(url = url, token = token)
    val identity = Fieldsync.whoAmI(server)
    Fieldsync.open(File(dir, "eli-broken.sqlite").path, identity, server, transport = broken).use { fieldsync ->
        expectThrows<FieldsyncException.Network>("sync_now fails with the transport's error") {
            withTimeout(20_000) { fieldsync.syncNow() }
        }
        val status = withTimeout(10_000) { fieldsync.syncStatus.first { it.lastErrorKind != null } }
        check("the status says why: ${status.lastError}", status.lastError?.contains("transport bug") == true)
    }
}

/** A token the server does not know: the status says to sign in again, typed, without text. */
private suspend fun signedOut(url: String, token: String, dir: File) {
    println("step: a token the server refuses")
    val identity = Fieldsync.whoAmI(ServerConfig(url = url, token = token))
    val revoked = ServerConfig(url = url, token = "not-a-token")
    Fieldsync.open(File(dir, "eli-signed-out.sqlite").path, identity, revoked).use { fieldsync ->
        check("the status starts with no error", fieldsync.syncStatus.value.lastErrorKind == null)
        expectThrows<FieldsyncException.Unauthorized>("sync_now is refused") { withTimeout(20_000) { fieldsync.syncNow() } }
        val status = withTimeout(10_000) { fieldsync.syncStatus.first { it.lastErrorKind != null } }
        check(
            "the status says sign in again, typed",
            status.needsSignIn && status.lastErrorKind == SyncFailureKind.UNAUTHORIZED,
        ) { "$status" }
    }
}
