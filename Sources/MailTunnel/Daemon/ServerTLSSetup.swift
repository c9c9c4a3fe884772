import MailTunnelTLS

/// Client mode's TLS towards the servers: trust from `ca-file`/`ca-path` or the system store, the client
/// certificate from `cert`/`key` when given.
enum ServerTLSSetup {
    static func makeContext(_ config: ListenerConfig) throws(TLSError) -> TLSClientContext {
        try TLSClientContext(settings: TLSClientSettings(
            caFile: config.caFile, caPath: config.caPath, certificateFile: config.cert, keyFile: config.key,
            minimumVersion: config.tlsMin == .v1_3 ? 0x0304 : 0x0303, ciphers: config.ciphers,
            ciphersuites: config.ciphersuites, verifyDepth: Int32(config.verifyDepth)))
    }
}
