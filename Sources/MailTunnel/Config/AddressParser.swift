/// Which setting an address belongs to; it decides what an omitted host means.
public enum AddressRole: Sendable {
    /// Listening: no host means all interfaces (host nil). `*` is accepted as the same.
    case accept
    /// A backend: no host means the local machine, 127.0.0.1.
    case connect
    /// The metrics endpoint: no host means 127.0.0.1, so metrics are never exposed by accident.
    case metrics
}

/// Parses `[HOST:]PORT`, with IPv6 hosts in brackets (`[::1]:993`).
public enum AddressParser {
    public static let defaultConnectHost = "127.0.0.1"

    public static func parse(_ raw: String, role: AddressRole) throws(OptionValueError) -> HostPort {
        let text = raw.trimmingSpaces
        guard !text.isEmpty else { throw OptionValueError("expected [HOST:]PORT, got nothing") }

        var host: String?
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw OptionValueError("expected [IPv6]:PORT, the ']' is missing in '\(text)'")
            }
            let inside = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else {
                throw OptionValueError("expected [IPv6]:PORT, the port is missing in '\(text)'")
            }
            guard inside.contains(":"), inside.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "%" }) else {
                throw OptionValueError("expected an IPv6 address inside [ ], got '\(inside)'")
            }
            host = String(inside)
            portText = rest.dropFirst()
        } else if let colon = text.lastIndex(of: ":") {
            let hostPart = text[..<colon]
            guard !hostPart.contains(":") else {
                throw OptionValueError("IPv6 addresses need brackets, as [::1]:993; got '\(text)'")
            }
            guard !hostPart.isEmpty else { throw OptionValueError("expected HOST before ':' in '\(text)'") }
            portText = text[text.index(after: colon)...]
            if hostPart == "*" {
                guard role == .accept else {
                    throw OptionValueError("'*' (all interfaces) only makes sense for accept; give a host or only a port")
                }
                host = nil
            } else {
                guard hostPart.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else {
                    throw OptionValueError("expected a host name or IPv4 address, got '\(hostPart)'")
                }
                host = String(hostPart)
            }
        } else {
            portText = Substring(text)
            host = role == .accept ? nil : defaultConnectHost
        }
        return HostPort(host: host, port: try parsePort(portText))
    }

    static func parsePort(_ text: Substring) throws(OptionValueError) -> Int {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = Int(text), (1...65535).contains(port) else {
            throw OptionValueError("port must be a number from 1 to 65535, got '\(text)'")
        }
        return port
    }
}

extension HostPort {
    /// True when the host means "every interface", so it collides with any other host on the same port.
    var isWildcard: Bool { host == nil || host == "0.0.0.0" || host == "::" }

    /// Two listeners cannot both bind these addresses.
    func bindConflicts(with other: HostPort) -> Bool {
        port == other.port && (isWildcard || other.isWildcard || host?.lowercased() == other.host?.lowercased())
    }
}

extension StringProtocol {
    /// Trims spaces and tabs (and CR from CRLF files) without Foundation.
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" || first == "\r" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" { slice.removeLast() }
        return String(slice)
    }
}
