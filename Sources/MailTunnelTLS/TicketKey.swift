internal import COpenSSL

/// One session-ticket key as nginx lays out its 80-byte keys: a 16-byte name (sent in clear at the start of
/// every ticket, so the server finds the key again), a 32-byte HMAC-SHA256 key and a 32-byte AES-256 key.
public struct TicketKey: Sendable, Equatable {
    public static let length = 80
    public let name: [UInt8]
    let hmacKey: [UInt8]
    let aesKey: [UInt8]

    /// nil unless exactly `length` bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.length else { return nil }
        name = Array(bytes[0..<16])
        hmacKey = Array(bytes[16..<48])
        aesKey = Array(bytes[48..<80])
    }

    public var bytes: [UInt8] { name + hmacKey + aesKey }

    /// 80 bytes from OpenSSL's CSPRNG.
    public static func random() -> TicketKey {
        var bytes = [UInt8](repeating: 0, count: length)
        // RAND_bytes fails only when the CSPRNG cannot be seeded; a ticket key must never be weak.
        guard RAND_bytes(&bytes, Int32(length)) == 1 else { fatalError("RAND_bytes failed") }
        return TicketKey(bytes: bytes)!
    }

    /// The key as one line of a ticket-key file (standard base64, no newline).
    public var base64: String {
        var out = [UInt8](repeating: 0, count: 4 * ((Self.length + 2) / 3) + 1)
        let count = EVP_EncodeBlock(&out, bytes, Int32(Self.length))
        return String(decoding: out.prefix(Int(count)), as: UTF8.self)
    }
}
