/// An address block in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or a single address such as `::1`).
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The network address: every bit past `prefixLength` is zero.
    public let address: IPAddress
    public let prefixLength: Int

    /// nil if `prefixLength` does not fit the family or `address` has bits set past it (`10.0.0.1/8` is
    /// almost always a typo for a host or for `10.0.0.0/8`; refusing it beats guessing).
    public init?(address: IPAddress, prefixLength: Int) {
        guard (0...address.bytes.count * 8).contains(prefixLength),
              IPNetwork.masked(address.bytes, prefixLength) == address.bytes else { return nil }
        self.address = address
        self.prefixLength = prefixLength
    }

    /// `ADDRESS` (a single host) or `ADDRESS/PREFIX`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { return nil }
        var length = address.bytes.count * 8
        if parts.count == 2 {
            let digits = parts[1]
            guard (1...3).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = Int(digits) else { return nil }
            length = value
        }
        self.init(address: address, prefixLength: length)
    }

    /// Whether `candidate` lies in this block. IPv4 and its IPv4-mapped IPv6 form are the same host,
    /// so `127.0.0.0/8` matches `::ffff:127.0.0.1` and `::ffff:0:0/96` matches `127.0.0.1`.
    public func contains(_ candidate: IPAddress) -> Bool {
        let bytes: [UInt8]
        if address.isIPv6 == candidate.isIPv6 {
            bytes = candidate.bytes
        } else if let v4 = candidate.unmappedIPv4 {
            bytes = v4.bytes
        } else if !candidate.isIPv6 {
            bytes = candidate.mappedIPv6.bytes
        } else {
            return false
        }
        return IPNetwork.masked(bytes, prefixLength) == address.bytes
    }

    /// `10.0.0.0/8`; a single host prints without its prefix (`::1`).
    public var description: String {
        prefixLength == address.bytes.count * 8 ? address.description : "\(address)/\(prefixLength)"
    }

    /// A comma- or space-separated list (`127.0.0.0/8, ::1`); nil if any entry is not a network.
    public static func list(_ text: some StringProtocol) -> [IPNetwork]? {
        let entries = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
        guard !entries.isEmpty else { return nil }
        var networks: [IPNetwork] = []
        for entry in entries {
            guard let network = IPNetwork(entry) else { return nil }
            networks.append(network)
        }
        return networks
    }

    static func masked(_ bytes: [UInt8], _ prefixLength: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let keep = min(8, max(0, prefixLength - index * 8))
            return keep == 8 ? byte : byte & ~(UInt8(0xFF) >> keep)
        }
    }
}

extension IPAddress {
    /// The unit that per-client limits count: an IPv4 address (also when written IPv4-mapped), or an IPv6
    /// address's /64, since one IPv6 subscriber is routinely handed a whole /64 and can use any address in it.
    public var clientKey: IPNetwork {
        if let v4 = unmappedIPv4 ?? (isIPv6 ? nil : self) {
            return IPNetwork(address: v4, prefixLength: 32)!
        }
        let prefix = IPAddress(bytes: IPNetwork.masked(bytes, 64))!
        return IPNetwork(address: prefix, prefixLength: 64)!
    }
}
