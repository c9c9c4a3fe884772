/// What a listener's TLS context is built from. Paths are read when the context is built (start and reload),
/// unless the caller already read them: then the PEM bytes are used and the paths only name them.
public struct TLSSettings: Sendable, Equatable {
    public enum ClientCertificatePolicy: String, Sendable, CaseIterable { case none, optional, require }

    /// Every certificate/key pair, never empty; the first is the default (see `TLSIdentity`, `CertificateSelection`).
    public var identities: [TLSIdentity]
    /// 0x0303 for TLS 1.2, 0x0304 for TLS 1.3.
    public var minimumVersion: Int32
    public var ciphers: String
    public var ciphersuites: String?
    public var clientCertificates: ClientCertificatePolicy
    public var caFile: String?
    public var caPath: String?
    public var crlFile: String?
    public var verifyDepth: Int32
    /// Names this listener's sessions so resumed sessions are not accepted across listeners.
    public var sessionContext: String
    /// Session-ticket lifetime (the hint sent to clients); nil keeps OpenSSL's default.
    public var ticketLifetimeSeconds: Int?

    public init(
        certificateChainFile: String, privateKeyFile: String, minimumVersion: Int32 = 0x0303,
        ciphers: String, ciphersuites: String? = nil,
        clientCertificates: ClientCertificatePolicy = .none,
        caFile: String? = nil, caPath: String? = nil, crlFile: String? = nil, verifyDepth: Int32 = 9,
        sessionContext: String
    ) {
        self.identities = [TLSIdentity(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)]
        self.minimumVersion = minimumVersion
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
        self.clientCertificates = clientCertificates
        self.caFile = caFile
        self.caPath = caPath
        self.crlFile = crlFile
        self.verifyDepth = verifyDepth
        self.sessionContext = sessionContext
    }
}
