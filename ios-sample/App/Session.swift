// The sign-in (server URL, token, identity), kept in the Keychain beside the store key so the
// app opens offline. Same accessibility as the key: this device, after first unlock.
#if canImport(Security)
import FieldsyncKit
import Foundation
import Security

struct Session {
    let server: ServerConfig
    let identity: Identity
}

enum SessionStore {
    private static let service = "dev.fieldsync.sample.session"

    private struct Stored: Codable {
        let url, token, userId, deviceId, role: String
    }

    static func load() throws -> Session? {
        let query: [CFString: Any] = [
            kSecClass: kSecClassGenericPassword, kSecAttrService: service,
            kSecReturnData: true, kSecMatchLimit: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = item as? Data else { throw KeychainStoreKey.Failure(status: status) }
        let stored = try JSONDecoder().decode(Stored.self, from: data)
        let role: Role = switch stored.role {
        case "dispatcher": .dispatcher
        case "admin": .admin
        case "complaint_handler": .complaintHandler
        default: .engineer
        }
        return Session(
            server: ServerConfig(url: stored.url, token: stored.token),
            identity: Identity(userId: stored.userId, deviceId: stored.deviceId, role: role))
    }

    static func save(_ session: Session) throws {
        let role = switch session.identity.role {
        case .engineer: "engineer"
        case .dispatcher: "dispatcher"
        case .admin: "admin"
        case .complaintHandler: "complaint_handler"
        }
        let data = try JSONEncoder().encode(
            Stored(url: session.server.url, token: session.server.token, userId: session.identity.userId,
                   deviceId: session.identity.deviceId, role: role))
        try delete()
        let add: [CFString: Any] = [
            kSecClass: kSecClassGenericPassword, kSecAttrService: service,
            kSecAttrAccessible: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, kSecValueData: data,
        ]
        let status = SecItemAdd(add as CFDictionary, nil)
        guard status == errSecSuccess else { throw KeychainStoreKey.Failure(status: status) }
    }

    static func delete() throws {
        let status = SecItemDelete([kSecClass: kSecClassGenericPassword, kSecAttrService: service] as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else { throw KeychainStoreKey.Failure(status: status) }
    }
}
#endif
