// The store key and the sign-in, kept only encrypted by an AES-GCM key that never leaves the
// Android Keystore (hardware-backed where the phone has it). The files live in
// noBackupFilesDir: a backup restored elsewhere could not decrypt them anyway.
package dev.fieldsync.sample.app

import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.AtomicFile
import androidx.core.util.readBytes
import androidx.core.util.writeBytes
import dev.fieldsync.Identity
import dev.fieldsync.Role
import dev.fieldsync.ServerConfig
import java.io.File
import java.nio.ByteBuffer
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.json.JSONObject

/** What sign-in established: where to sync, as whom. Saved so that the app opens offline. */
data class Session(val server: ServerConfig, val identity: Identity)

/** Secrets sealed by the Keystore. Blocking (Keystore, files): call it off the main thread. */
class KeystoreVault(private val dir: File) {
    private val keyStore: KeyStore = KeyStore.getInstance(PROVIDER).apply { load(null) }

    /** The store's 32-byte key: random, made at first use, the same on every later launch. */
    fun storeKey(): ByteArray =
        get(STORE_KEY) ?: ByteArray(32).also { SecureRandom().nextBytes(it); put(STORE_KEY, it) }

    fun session(): Session? = get(SESSION)?.let { bytes ->
        val json = JSONObject(bytes.toString(Charsets.UTF_8))
        Session(
            server = ServerConfig(url = json.getString("url"), token = json.getString("token")),
            identity = Identity(
                userId = json.getString("userId"),
                deviceId = json.getString("deviceId"),
                role = Role.valueOf(json.getString("role")),
            ),
        )
    }

    fun saveSession(session: Session) {
        val json = JSONObject()
            .put("url", session.server.url)
            .put("token", session.server.token)
            .put("userId", session.identity.userId)
            .put("deviceId", session.identity.deviceId)
            .put("role", session.identity.role.name)
        put(SESSION, json.toString().toByteArray(Charsets.UTF_8))
    }

    /** Sign-out: the session and the store key go; the store (deleted by the caller) is unreadable. */
    fun clear() {
        AtomicFile(file(SESSION)).delete()
        AtomicFile(file(STORE_KEY)).delete()
        keyStore.deleteEntry(ALIAS)
    }

    private fun file(name: String) = File(dir, "$name.sealed")

    /** File layout: IV length (1 byte), IV, AES-GCM ciphertext with its 16-byte tag. */
    private fun put(name: String, secret: ByteArray) {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        // The Keystore chooses the IV: keys it makes refuse caller-chosen IVs for encryption.
        cipher.init(Cipher.ENCRYPT_MODE, wrapKey())
        val sealed = cipher.doFinal(secret)
        val iv = cipher.iv
        val out = ByteBuffer.allocate(1 + iv.size + sealed.size).put(iv.size.toByte()).put(iv).put(sealed).array()
        AtomicFile(file(name)).writeBytes(out)
    }

    private fun get(name: String): ByteArray? {
        val stored = AtomicFile(file(name))
        if (!stored.baseFile.exists()) return null
        val bytes = ByteBuffer.wrap(stored.readBytes())
        val iv = ByteArray(bytes.get().toInt()).also { bytes.get(it) }
        val sealed = ByteArray(bytes.remaining()).also { bytes.get(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, wrapKey(), GCMParameterSpec(TAG_BITS, iv))
        return cipher.doFinal(sealed) // AEADBadTagException if the file was altered
    }

    private fun wrapKey(): SecretKey {
        (keyStore.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, PROVIDER)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val PROVIDER = "AndroidKeyStore"
        const val ALIAS = "dev.fieldsync.sample.wrap"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val TAG_BITS = 128
        const val STORE_KEY = "store-key"
        const val SESSION = "session"
    }
}
