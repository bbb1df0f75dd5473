// Where the key that encrypts the device store will come from on iOS. The library has no
// store encryption option yet; when it has, the app passes this key when it opens the store
// (see openStore below). Until then these are the code paths, commented, that the app uses.
import FieldsyncKit

/// Opens the engineer's store at first sign-in.
public func openStore(storePath: String, server: ServerConfig) async throws -> Fieldsync {
    // The store key: 32 random bytes made once and kept in the Keychain, readable only on
    // this device once it has been unlocked after boot (sync runs in the background):
    //
    //   let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
    //                               kSecAttrService as String: "dev.fieldsync.store",
    //                               kSecReturnData as String: true]
    //   var item: CFTypeRef?
    //   if SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let key = item as? Data {
    //       storeKey = key
    //   } else {
    //       var key = Data(count: 32)
    //       _ = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
    //       SecItemAdd([kSecClass as String: kSecClassGenericPassword,
    //                   kSecAttrService as String: "dev.fieldsync.store",
    //                   kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
    //                   kSecValueData as String: key] as CFDictionary, nil)
    //       storeKey = key
    //   }
    //
    // and then, once the library takes it:
    //
    //   return try await Fieldsync.signIn(storePath: storePath, server: server, storeKey: storeKey)
    try await Fieldsync.signIn(storePath: storePath, server: server)
}
