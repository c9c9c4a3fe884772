/// An IPv4 or IPv6 address as raw network-order bytes, with its textual form.
/// Our own small type so the protocol codecs need neither Foundation nor sockaddr.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 bytes (IPv6), network order.
    public let bytes: [UInt8]

    /// nil unless `bytes` holds exactly 4 or 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    public static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> IPAddress {
        IPAddress(checked: [a, b, c, d])
    }

    private init(checked bytes: [UInt8]) { self.bytes = bytes }

    public var isIPv6: Bool { bytes.count == 16 }

    /// For `::ffff:a.b.c.d` (how a dual-stack socket reports an IPv4 peer) the plain IPv4 address.
    public var unmappedIPv4: IPAddress? {
        guard isIPv6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff else { return nil }
        return IPAddress(checked: Array(bytes[12..<16]))
    }

    /// The IPv4-mapped IPv6 form of an IPv4 address (IPv6 addresses are returned unchanged).
    public var mappedIPv6: IPAddress {
        isIPv6 ? self : IPAddress(checked: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + bytes)
    }

    /// Dotted quad, or RFC 5952 canonical IPv6 (lowercase, longest zero run of 2+ groups compressed).
    public var description: String {
        if !isIPv6 { return bytes.map { String($0) }.joined(separator: ".") }
        if let v4 = unmappedIPv4 { return "::ffff:" + v4.description }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength { bestStart = runStart; bestLength = i - runStart }
                runStart = -1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        guard bestLength >= 2 else { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// Parses dotted-quad IPv4 (decimal, no leading zeros) or IPv6 text (with `::` and an optional
    /// dotted-quad tail). No zone ids: mail peers are never link-local in practice.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        if let v4 = IPAddress.parseV4(utf8[...]) {
            self.bytes = v4
        } else if let v6 = IPAddress.parseV6(utf8) {
            self.bytes = v6
        } else {
            return nil
        }
    }

    private static func parseV4(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        let parts = text.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(isDigit) else { return nil }
            if part.count > 1 && part.first == UInt8(ascii: "0") { return nil }  // 010 is octal to some parsers
            let value = part.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 255 else { return nil }
            out.append(UInt8(value))
        }
        return out
    }

    private static func parseV6(_ text: [UInt8]) -> [UInt8]? {
        guard text.count >= 2, text.count <= 45 else { return nil }
        // Split around a single "::"; each half is a list of groups, the last may be a dotted quad.
        var halves: [ArraySlice<UInt8>] = []
        var i = 0, start = 0
        while i < text.count {
            if text[i] == UInt8(ascii: ":"), i + 1 < text.count, text[i + 1] == UInt8(ascii: ":") {
                halves.append(text[start..<i]); i += 2; start = i
                guard halves.count == 1 else { return nil }  // two "::"
                continue
            }
            i += 1
        }
        halves.append(text[start..<text.count])
        func groups(_ part: ArraySlice<UInt8>, allowV4Tail: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            var out: [UInt8] = []
            for (index, field) in fields.enumerated() {
                if allowV4Tail && index == fields.count - 1 && field.contains(UInt8(ascii: ".")) {
                    guard let v4 = parseV4(field) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(field.count), field.allSatisfy(isHexDigit) else { return nil }
                let value = field.reduce(0) { $0 << 4 | hexValue($1) }
                out += [UInt8(value >> 8), UInt8(value & 0xff)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowV4Tail: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowV4Tail: false),
              let tail = groups(halves[1], allowV4Tail: true),
              head.count + tail.count <= 14 else { return nil }
        return head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

/// An address and port: one end of a TCP connection.
public struct SocketEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16
    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }
    /// `1.2.3.4:25` or `[2001:db8::1]:25`.
    public var description: String {
        address.isIPv6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}

@inline(__always) fileprivate func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
@inline(__always) fileprivate func isHexDigit(_ c: UInt8) -> Bool { hexValue(c) >= 0 }
@inline(__always) fileprivate func hexValue(_ c: UInt8) -> Int {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(c - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(c - UInt8(ascii: "a")) + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(c - UInt8(ascii: "A")) + 10
    default: return -1
    }
}
