// How the sample opens the engineer's store: encrypted with a 32-byte key (docs/adr/0011), kept
// in the Keychain. `openStore` is plain Swift, compiled and run on Linux by CI
// (scripts/test-bindings.sh); the Keychain part exists only where Security does (iOS, macOS).
import FieldsyncKit
import Foundation

#if canImport(Security)
import Security
#endif

/// The first 16 bytes of every plaintext SQLite file; an encrypted store's look random.
private let plaintextHeader = Data("SQLite format 3\0".utf8)

/// Opens the engineer's store at `storePath`, encrypted with `storeKey` (32 bytes).
///
/// `identity` nil: first sign-in, the server says whose token this is. Otherwise the identity
/// saved at sign-in, so that the app opens offline. A store written by a build that did not
/// encrypt yet is encrypted once, in place, before it is opened (the library never does that
/// by itself); a wrong key throws `FieldsyncError.wrongKey` and changes nothing.
public func openStore(
    storePath: String, server: ServerConfig, storeKey: Data, identity: Identity? = nil
) async throws -> Fieldsync {
    if isPlaintextStore(atPath: storePath) {
        try await Fieldsync.encryptExistingStore(storePath: storePath, storeKey: storeKey)
    }
    if let identity {
        return try await Fieldsync.open(storePath: storePath, identity: identity, server: server, storeKey: storeKey)
    }
    return try await Fieldsync.signIn(storePath: storePath, server: server, storeKey: storeKey)
}

/// Whether the file at `path` is a plaintext SQLite store (missing or encrypted: false).
public func isPlaintextStore(atPath path: String) -> Bool {
    guard let file = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? file.close() }
    let header = try? file.read(upToCount: plaintextHeader.count)
    return header == plaintextHeader
}

#if canImport(Security)
/// The store key in the Keychain: 32 random bytes made at first use, a generic password readable
/// only on this device, once it has been unlocked after boot (sync runs in the background, the
/// key never reaches a backup or another phone).
public enum KeychainStoreKey {
    /// What the Keychain said when it refused.
    public struct Failure: Error, CustomStringConvertible {
        public let status: OSStatus
        public init(status: OSStatus) { self.status = status }
        public var description: String {
            "Keychain error \(status): \(SecCopyErrorMessageString(status, nil) as String? ?? "unknown")"
        }
    }

    private static let service = "dev.fieldsync.sample.store-key"
    private static let account = "store"

    /// The key, made and saved on first use.
    public static func load() throws -> Data {
        if let key = try read() { return key }
        var key = Data(count: 32)
        let made = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard made == errSecSuccess else { throw Failure(status: made) }
        let add: [CFString: Any] = [
            kSecClass: kSecClassGenericPassword,
            kSecAttrService: service,
            kSecAttrAccount: account,
            kSecAttrAccessible: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecValueData: key,
        ]
        let status = SecItemAdd(add as CFDictionary, nil)
        if status == errSecDuplicateItem, let raced = try read() { return raced }  // made by another launch path
        guard status == errSecSuccess else { throw Failure(status: status) }
        return key
    }

    /// Forgets the key (sign-out: the store is deleted with it, nothing else can open it).
    public static func delete() throws {
        let query: [CFString: Any] = [kSecClass: kSecClassGenericPassword, kSecAttrService: service, kSecAttrAccount: account]
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw Failure(status: status) }
    }

    private static func read() throws -> Data? {
        let query: [CFString: Any] = [
            kSecClass: kSecClassGenericPassword,
            kSecAttrService: service,
            kSecAttrAccount: account,
            kSecReturnData: true,
            kSecMatchLimit: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let key = item as? Data, key.count == 32 else {
            throw Failure(status: status == errSecSuccess ? errSecDecode : status)
        }
        return key
    }
}
#endif
