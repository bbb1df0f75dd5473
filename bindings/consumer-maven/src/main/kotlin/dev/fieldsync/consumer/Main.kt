// A smoke test of the published artifact, from an app that only declared
// dev.fieldsync:fieldsync in its pom.xml: the native library comes out of the jar (JNA), the
// HTTP transport is OkHttp from the POM's dependencies, the Flows are kotlinx-coroutines'.
//
//   Main <server url> <token> <ticket id> <work dir>
//
// Signs in, syncs the dispatched ticket down, observes it, accepts it with a note, syncs that
// up. Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
package dev.fieldsync.consumer

import dev.fieldsync.Fieldsync
import dev.fieldsync.ServerConfig
import dev.fieldsync.Status
import java.io.File
import kotlin.system.exitProcess
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
    if (args.size != 4) {
        System.err.println("usage: Main <server url> <token> <ticket id> <work dir>")
        exitProcess(2)
    }
    val (url, token, ticketId, workDir) = args
    try {
        runBlocking { smoke(url, token, ticketId, File(workDir)) }
    } catch (e: Throwable) {
        failed++
        println("FAIL stopped: $e")
        e.printStackTrace(System.out)
    }
    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}

private suspend fun smoke(url: String, token: String, ticketId: String, dir: File) {
    dir.mkdirs()
    val library = Fieldsync::class.java.protectionDomain.codeSource.location.path
    check("the library comes from the resolved artifact ($library)", library.contains("/dev/fieldsync/fieldsync/"))
    val fieldsync = Fieldsync.signIn(File(dir, "store.sqlite").path, ServerConfig(url = url, token = token))
    fieldsync.use {
        val first = fieldsync.syncNow()
        check("the first sync receives the dispatched ticket", ticketId in first.received) { "$first" }
        val seen = withTimeout(10_000) { fieldsync.observeTicket(ticketId).first { it != null } }
        check("observeTicket emits it, dispatched", seen?.status == Status.DISPATCHED) { "$seen" }
        fieldsync.accept(ticketId)
        fieldsync.addNote(ticketId, "On my way (published-artifact smoke test).")
        val accepted = withTimeout(10_000) { fieldsync.observeTicket(ticketId).first { it?.status == Status.ACCEPTED } }
        check("the accepted ticket is observed with its note", accepted?.notes?.size == 1) { "$accepted" }
        val second = fieldsync.syncNow()
        check("the next sync pushes it", ticketId in second.pushed) { "$second" }
    }
}
