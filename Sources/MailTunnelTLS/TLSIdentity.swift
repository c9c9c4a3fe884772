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
    /// Every pair, the first (the default for clients without SNI or with an unknown name) first.
    public var identities: [TLSIdentity] {
        let first = TLSIdentity(certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile,
                                certificateChainPEM: certificateChainPEM, privateKeyPEM: privateKeyPEM,
                                ocspFile: ocspFile, ocspDER: ocspDER)
        return [first] + additionalIdentities
    }

    /// The same settings serving exactly these pairs (one SNI group), the first becoming the primary one.
    public func serving(_ group: [TLSIdentity]) -> TLSSettings {
        var copy = self
        let first = group[0]
        copy.certificateChainFile = first.certificateChainFile
        copy.privateKeyFile = first.privateKeyFile
        copy.certificateChainPEM = first.certificateChainPEM
        copy.privateKeyPEM = first.privateKeyPEM
        copy.ocspFile = first.ocspFile
        copy.ocspDER = first.ocspDER
        copy.additionalIdentities = Array(group.dropFirst())
        return copy
    }
}
