/// Postfix XCLIENT (XCLIENT_README): tells the backend MTA who the real client is, so its logs and
/// policies (permit_sasl_authenticated, sender login maps) see the client rather than mailtunnel.
public enum XCLIENT {
    /// One attribute, value unencoded; `commands` applies xtext.
    public struct Attribute: Equatable, Sendable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public enum BuildError: Error, Equatable, Sendable {
        /// This attribute alone does not fit in one command line.
        case attributeTooLong(name: String)
    }

    /// The backend's answer to one XCLIENT command.
    public enum Outcome: Equatable, Sendable {
        /// Postfix answers a successful XCLIENT with a fresh 220 greeting: the session is reset.
        case accepted
        /// Anything else (501 bad syntax, 550 not authorized, 421, ...).
        case rejected(SMTPReply)
    }

    /// RFC 5321 command line limit, CRLF included.
    public static let maxCommandLength = 512

    /// Postfix's own spelling for "no such information"; mailtunnel never looks names up in DNS.
    public static let unavailable = "[UNAVAILABLE]"

    /// ADDR value: dotted quad, or `IPV6:` and the RFC 5952 form. A v4-mapped address is sent as IPv4,
    /// since that is the client's real address behind a dual-stack socket.
    public static func addressValue(_ address: IPAddress) -> String {
        if let v4 = address.unmappedIPv4 { return v4.description }
        return address.isIPv6 ? "IPV6:\(address)" : address.description
    }

    /// The attributes mailtunnel sends: ADDR, PORT, NAME=[UNAVAILABLE] and LOGIN when authenticated.
    public static func attributes(client: SocketEndpoint?, login: String?) -> [Attribute] {
        var list: [Attribute] = []
        if let client {
            list.append(Attribute("ADDR", addressValue(client.address)))
            list.append(Attribute("PORT", String(client.port)))
        }
        list.append(Attribute("NAME", unavailable))
        if let login { list.append(Attribute("LOGIN", login)) }
        return list
    }

    /// Command lines (CRLF included), each at most `maxLength` octets; attributes are split across
    /// several XCLIENT commands when they do not fit in one (Postfix accepts a sequence).
    public static func commands(_ attributes: [Attribute], maxLength: Int = maxCommandLength) throws(BuildError) -> [[UInt8]] {
        let prefix = Array("XCLIENT".utf8)
        let overhead = prefix.count + 2  // "XCLIENT" + CRLF
        var lines: [[UInt8]] = []
        var current = prefix
        for attribute in attributes {
            let item = Array(" \(attribute.name)=\(XText.encode(attribute.value))".utf8)
            guard overhead + item.count <= maxLength else { throw .attributeTooLong(name: attribute.name) }
            if current.count + item.count + 2 > maxLength {
                lines.append(current + [0x0D, 0x0A])
                current = prefix
            }
            current += item
        }
        if current.count > prefix.count { lines.append(current + [0x0D, 0x0A]) }
        return lines
    }

    /// Postfix answers a successful XCLIENT with the reset session's 220 greeting; simpler implementations
    /// (smtp-sink among them) with 250. Any 2xx is success.
    public static func outcome(of reply: SMTPReply) -> Outcome {
        (200..<300).contains(reply.code) ? .accepted : .rejected(reply)
    }
}
