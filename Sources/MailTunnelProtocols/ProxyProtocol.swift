/// PROXY protocol (haproxy's proxy-protocol.txt) header model, shared by the v1 and v2 codecs.
/// Encoding is used for `proxy-protocol = v1|v2` towards the backend, decoding for `accept-proxy-protocol`.
public struct ProxyHeader: Equatable, Sendable {
    public enum Command: Equatable, Sendable {
        /// The connection was made by the proxy itself (health check): use the real peer address.
        case local
        /// The connection is relayed on behalf of the client described by `source`.
        case proxy
    }

    public var command: Command
    /// The client; nil for LOCAL, v1 UNKNOWN, or a v2 family we do not map to IP (UNSPEC, UNIX).
    public var source: SocketEndpoint?
    /// The address the client connected to; nil exactly when `source` is nil.
    public var destination: SocketEndpoint?
    /// v2 only: TLS facts about the client connection (PP2_TYPE_SSL).
    public var ssl: ProxySSLInfo?
    /// v2 only: every other TLV, in order, untouched (type, value).
    public var otherTLVs: [ProxyTLV]

    public init(command: Command = .proxy, source: SocketEndpoint?, destination: SocketEndpoint?,
                ssl: ProxySSLInfo? = nil, otherTLVs: [ProxyTLV] = []) {
        self.command = command
        self.source = source
        self.destination = destination
        self.ssl = ssl
        self.otherTLVs = otherTLVs
    }

    /// A LOCAL (v2) / UNKNOWN (v1) header: no client information.
    public static let local = ProxyHeader(command: .local, source: nil, destination: nil)
}

/// One v2 type-length-value record.
public struct ProxyTLV: Equatable, Sendable {
    public var type: UInt8
    public var value: [UInt8]
    public init(type: UInt8, value: [UInt8]) { self.type = type; self.value = value }
}

/// The PP2_TYPE_SSL TLV: the client byte, the verify result and the sub-TLVs mailtunnel sends.
public struct ProxySSLInfo: Equatable, Sendable {
    /// PP2_CLIENT_SSL / PP2_CLIENT_CERT_CONN / PP2_CLIENT_CERT_SESS bits.
    public struct ClientFlags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let ssl = ClientFlags(rawValue: 0x01)
        public static let certificateOnConnection = ClientFlags(rawValue: 0x02)
        public static let certificateInSession = ClientFlags(rawValue: 0x04)
    }

    public var client: ClientFlags
    /// 0 when the client presented a certificate and it verified; non-zero otherwise (spec).
    public var verify: UInt32
    /// PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3".
    public var version: String?
    /// PP2_SUBTYPE_SSL_CN: the client certificate's Common Name.
    public var commonName: String?
    /// PP2_SUBTYPE_SSL_CIPHER, e.g. "TLS_AES_256_GCM_SHA384".
    public var cipher: String?
    /// Sub-TLVs other than the three above (decoding only keeps them so nothing is silently lost).
    public var otherSubTLVs: [ProxyTLV]

    public init(client: ClientFlags, verify: UInt32, version: String? = nil, commonName: String? = nil,
                cipher: String? = nil, otherSubTLVs: [ProxyTLV] = []) {
        self.client = client
        self.verify = verify
        self.version = version
        self.commonName = commonName
        self.cipher = cipher
        self.otherSubTLVs = otherSubTLVs
    }
}

/// The outcome of looking at the first bytes of a connection.
public enum ProxyDecodeResult: Equatable, Sendable {
    /// Not enough bytes yet to decide; read more (the header is incomplete but so far valid).
    case needMore
    /// A complete header occupying the first `consumed` bytes; everything after them is the client's.
    case header(ProxyHeader, consumed: Int)
    /// Not a PROXY header, or one that breaks the spec; the reason is for the log line.
    case invalid(String)
}

public enum ProxyProtocol {
    public enum Version: Sendable, Equatable { case v1, v2 }

    /// PP2 TLV type codes used here (proxy-protocol.txt section 2.2).
    public enum TLVType {
        public static let ssl: UInt8 = 0x20
        public static let sslVersion: UInt8 = 0x21
        public static let sslCN: UInt8 = 0x22
        public static let sslCipher: UInt8 = 0x23
    }

    /// v1: the spec's longest header, "PROXY UNKNOWN ffff:…" with CRLF included.
    public static let v1MaxLength = 107
    /// v2: the 12-byte signature.
    public static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    /// v2: default cap on the length field. The spec allows 65535, but a peer claiming that much is
    /// either broken or trying to make us buffer; real load balancers send a few hundred bytes at most.
    public static let defaultV2MaxPayload = 4096

    /// Decides from the bytes received so far. Never looks past the header: `consumed` is exact.
    public static func decode(_ bytes: ArraySlice<UInt8>, maxV2Payload: Int = defaultV2MaxPayload) -> ProxyDecodeResult {
        guard let first = bytes.first else { return .needMore }
        if first == UInt8(ascii: "P") { return ProxyV1.decode(bytes) }
        if first == v2Signature[0] { return ProxyV2.decode(bytes, maxPayload: maxV2Payload) }
        return .invalid("no PROXY protocol header")
    }

    /// The header bytes in the requested version. v1 cannot carry TLVs; they are dropped there.
    public static func encode(_ header: ProxyHeader, version: Version) -> [UInt8] {
        switch version {
        case .v1: return ProxyV1.encode(header)
        case .v2: return ProxyV2.encode(header)
        }
    }
}
