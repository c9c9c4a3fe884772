/// What a client-mode listener's TLS towards the remote server is built from.
public struct TLSClientSettings: Sendable, Equatable {
    /// Trust anchors for the server's certificate; both nil: the system trust store.
    public var caFile: String?
    public var caPath: String?
    /// The client certificate to present, if any (the key defaults to the certificate file).
    public var certificateFile: String?
    public var keyFile: String?
    /// 0x0303 for TLS 1.2, 0x0304 for TLS 1.3.
    public var minimumVersion: Int32
    public var ciphers: String
    public var ciphersuites: String?
    public var verifyDepth: Int32

    public init(caFile: String? = nil, caPath: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                minimumVersion: Int32 = 0x0303, ciphers: String, ciphersuites: String? = nil, verifyDepth: Int32 = 9) {
        self.caFile = caFile
        self.caPath = caPath
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.minimumVersion = minimumVersion
        self.ciphers = ciphers
        self.ciphersuites = ciphersuites
        self.verifyDepth = verifyDepth
    }
}
