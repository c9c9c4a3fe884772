/// One certificate/key pair a server offers, with the OCSP response stapled for it. Paths are read when the
/// context is built unless the caller already read them (then the bytes are used and the paths only name them).
public struct TLSIdentity: Sendable, Equatable {
    public var certificateChainFile: String
    public var privateKeyFile: String
    public var certificateChainPEM: [UInt8]?
    public var privateKeyPEM: [UInt8]?
    /// A DER OCSP response for this certificate (as `openssl ocsp -respout` writes it).
    public var ocspFile: String?
    public var ocspDER: [UInt8]?

    public init(certificateChainFile: String, privateKeyFile: String, certificateChainPEM: [UInt8]? = nil,
                privateKeyPEM: [UInt8]? = nil, ocspFile: String? = nil, ocspDER: [UInt8]? = nil) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
        self.ocspFile = ocspFile
        self.ocspDER = ocspDER
    }
}

extension TLSSettings {
    // The first pair's fields, for code that serves one pair (client mode, the self-signed default, tests).
    public var certificateChainFile: String {
        get { identities[0].certificateChainFile }
        set { identities[0].certificateChainFile = newValue }
    }
    public var privateKeyFile: String {
        get { identities[0].privateKeyFile }
        set { identities[0].privateKeyFile = newValue }
    }
    public var certificateChainPEM: [UInt8]? {
        get { identities[0].certificateChainPEM }
        set { identities[0].certificateChainPEM = newValue }
    }
    public var privateKeyPEM: [UInt8]? {
        get { identities[0].privateKeyPEM }
        set { identities[0].privateKeyPEM = newValue }
    }
}
