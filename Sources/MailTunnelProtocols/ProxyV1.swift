/// PROXY protocol version 1: one human-readable line, at most 107 bytes with its CRLF.
enum ProxyV1 {
    private static let prefix = Array("PROXY ".utf8)

    static func encode(_ header: ProxyHeader) -> [UInt8] {
        guard header.command == .proxy, var source = header.source, var destination = header.destination else {
            return Array("PROXY UNKNOWN\r\n".utf8)
        }
        // One family per line: a mixed pair (IPv4 client on an IPv6 listener) goes out as IPv6.
        if source.address.isIPv6 != destination.address.isIPv6 {
            source.address = source.address.mappedIPv6
            destination.address = destination.address.mappedIPv6
        }
        let family = source.address.isIPv6 ? "TCP6" : "TCP4"
        return Array("PROXY \(family) \(source.address) \(destination.address) \(source.port) \(destination.port)\r\n".utf8)
    }

    static func decode(_ bytes: ArraySlice<UInt8>) -> ProxyDecodeResult {
        let limit = min(bytes.count, ProxyProtocol.v1MaxLength)
        // Reject early on a wrong prefix so garbage is not buffered up to 107 bytes.
        for i in 0..<min(limit, prefix.count) where bytes[bytes.startIndex + i] != prefix[i] {
            return .invalid("PROXY v1: bad signature")
        }
        var end: Int? = nil
        for i in 0..<limit {
            let c = bytes[bytes.startIndex + i]
            if c == UInt8(ascii: "\r") {
                guard i + 1 < bytes.count else { return .needMore }
                guard bytes[bytes.startIndex + i + 1] == UInt8(ascii: "\n") else { return .invalid("PROXY v1: CR without LF") }
                end = i
                break
            }
            // Only printable ASCII may appear in the line; a NUL or LF means this is not a v1 header.
            guard c >= 0x20 && c < 0x7f else { return .invalid("PROXY v1: control byte in header") }
        }
        guard let end else {
            return bytes.count >= ProxyProtocol.v1MaxLength ? .invalid("PROXY v1: header longer than 107 bytes") : .needMore
        }
        guard end + 2 <= ProxyProtocol.v1MaxLength else { return .invalid("PROXY v1: header longer than 107 bytes") }
        let line = bytes[bytes.startIndex..<(bytes.startIndex + end)]
        let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        let consumed = end + 2
        guard fields.count >= 2 else { return .invalid("PROXY v1: missing protocol") }
        let family = String(decoding: fields[1], as: UTF8.self)
        if family == "UNKNOWN" {
            // The spec: the receiver must ignore whatever follows UNKNOWN and use the real addresses.
            return .header(.local, consumed: consumed)
        }
        guard family == "TCP4" || family == "TCP6" else { return .invalid("PROXY v1: unknown protocol") }
        guard fields.count == 6 else { return .invalid("PROXY v1: expected 4 fields after \(family)") }
        guard let source = IPAddress(String(decoding: fields[2], as: UTF8.self)),
              let destination = IPAddress(String(decoding: fields[3], as: UTF8.self)),
              source.isIPv6 == (family == "TCP6"), destination.isIPv6 == (family == "TCP6") else {
            return .invalid("PROXY v1: bad \(family) address")
        }
        guard let sourcePort = port(fields[4]), let destinationPort = port(fields[5]) else {
            return .invalid("PROXY v1: bad port")
        }
        let header = ProxyHeader(command: .proxy,
                                 source: SocketEndpoint(address: source, port: sourcePort),
                                 destination: SocketEndpoint(address: destination, port: destinationPort))
        return .header(header, consumed: consumed)
    }

    /// Decimal 0...65535 without leading zeros, as the spec writes them.
    private static func port(_ text: ArraySlice<UInt8>) -> UInt16? {
        guard (1...5).contains(text.count),
              text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              !(text.count > 1 && text.first == UInt8(ascii: "0")) else { return nil }
        let value = text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return value <= 65535 ? UInt16(value) : nil
    }
}
