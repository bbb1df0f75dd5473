// How the sample opens the engineer's store: encrypted with a 32-byte key (docs/adr/0011). The
// key itself comes from the Android Keystore (app/.../KeystoreStoreKey.kt: a random key kept
// only wrapped by an AES-GCM key that never leaves the Keystore); this part is plain Kotlin so
// that CI compiles and runs it on the JVM (scripts/test-bindings.sh).
package dev.fieldsync.sample

import dev.fieldsync.Fieldsync
import dev.fieldsync.Identity
import dev.fieldsync.ServerConfig
import java.io.File
import java.io.RandomAccessFile
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/** The first 16 bytes of every plaintext SQLite file; an encrypted store's look random. */
private val plaintextHeader = "SQLite format 3\u0000".toByteArray(Charsets.US_ASCII)

/**
 * Opens the engineer's store at [storePath], encrypted with [storeKey] (32 bytes).
 *
 * [identity] null: first sign-in, the server says whose token this is. Otherwise the identity
 * saved at sign-in, so that the app opens offline. A store written by a build that did not
 * encrypt yet is encrypted once, in place, before it is opened (the library never does that
 * by itself); a wrong key throws `FieldsyncException.WrongKey` and changes nothing.
 */
suspend fun openStore(storePath: String, server: ServerConfig, storeKey: ByteArray, identity: Identity? = null): Fieldsync {
    if (isPlaintextStore(File(storePath))) {
        Fieldsync.encryptExistingStore(storePath, storeKey)
    }
    return if (identity == null) {
        Fieldsync.signIn(storePath, server, storeKey = storeKey)
    } else {
        Fieldsync.open(storePath, identity, server, storeKey = storeKey)
    }
}

/** Whether [store] is a plaintext SQLite file (missing or encrypted: false). */
suspend fun isPlaintextStore(store: File): Boolean = withContext(Dispatchers.IO) {
    if (!store.isFile || store.length() < plaintextHeader.size) return@withContext false
    val header = ByteArray(plaintextHeader.size)
    RandomAccessFile(store, "r").use { it.readFully(header) } // API 1; InputStream.readNBytes is API 33
    header.contentEquals(plaintextHeader)
}
