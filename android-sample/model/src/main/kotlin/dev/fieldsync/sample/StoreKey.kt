// Where the key that encrypts the device store will come from on Android. The library has no
// store encryption option yet; when it has, the app passes this key when it opens the store
// (see openStore below). Until then these are the code paths, commented, that the app uses.
package dev.fieldsync.sample

import dev.fieldsync.Fieldsync
import dev.fieldsync.ffi.ServerConfig

/** Opens the engineer's store at first sign-in. */
suspend fun openStore(storePath: String, server: ServerConfig): Fieldsync {
    // The store key: 32 random bytes made once, kept only wrapped (encrypted) by a key that
    // never leaves the Android Keystore (hardware-backed where the phone has it):
    //
    //   val keyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }
    //   val wrapKey = (keyStore.getEntry("fieldsync-store", null) as? KeyStore.SecretKeyEntry)?.secretKey
    //       ?: KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore").apply {
    //           init(KeyGenParameterSpec.Builder("fieldsync-store",
    //                   KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
    //               .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
    //               .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
    //               .build())
    //       }.generateKey()
    //   // First run: storeKey = SecureRandom().nextBytes(32); encrypt it with wrapKey
    //   // (Cipher "AES/GCM/NoPadding") and keep iv + ciphertext in noBackupFilesDir;
    //   // later runs decrypt it from there.
    //
    // and then, once the library takes it:
    //
    //   return Fieldsync.signIn(storePath, server, storeKey = storeKey)
    return Fieldsync.signIn(storePath, server)
}
