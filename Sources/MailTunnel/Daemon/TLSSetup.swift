#if canImport(Glibc)
import Glibc
#endif
import Logging
import MailTunnelTLS

/// Turns a listener's settings into a TLS context, generating the self-signed default when no cert is given.
enum TLSSetup {
    static func stateDirectory(_ stateDir: String?) -> String {
        if let dir = stateDir { return dir }
        // systemd's StateDirectory= hands the path over in $STATE_DIRECTORY.
        if let fromSystemd = getenv("STATE_DIRECTORY") {
            return String(cString: fromSystemd).split(separator: ":").first.map(String.init) ?? "/var/lib/mailtunnel"
        }
        return "/var/lib/mailtunnel"
    }

    static func settings(_ config: ListenerConfig, stateDir: String?) throws(TLSError) -> TLSSettings {
        let certificate: String
        let key: String
        if let cert = config.cert {
            certificate = cert
            key = config.key ?? cert
        } else {
            let files = try SelfSignedCertificate.loadOrCreate(
                stateDirectory: stateDirectory(stateDir), commonName: hostName())
            certificate = files.certificate
            key = files.key
        }
        var result = TLSSettings(
            certificateChainFile: certificate, privateKeyFile: key,
            minimumVersion: config.tlsMin == .v1_3 ? 0x0304 : 0x0303,
            ciphers: config.ciphers, ciphersuites: config.ciphersuites,
            clientCertificates: config.verify,
            caFile: config.caFile, caPath: config.caPath, crlFile: config.crlFile,
            verifyDepth: Int32(config.verifyDepth), sessionContext: "mailtunnel:" + config.name)
        result.ticketLifetimeSeconds = max(1, Int(config.ticketLifetime.rounded(.up)))
        return result
    }

    static func makeContext(_ config: ListenerConfig, stateDir: String?, ticketKeys: TicketKeyRing = TicketKeyRing(),
                            logger: Logger) throws(TLSError) -> TLSContext {
        var settings = try settings(config, stateDir: stateDir)
        // Operators' certificate paths may be symbolic links (e.g. certbot's live/); the generated ones may not.
        let follow = config.cert != nil
        let chain = try KeyFiles.shared.read(settings.certificateChainFile, followSymlinks: follow)
        let key = try KeyFiles.shared.read(settings.privateKeyFile, followSymlinks: follow)
        settings.certificateChainPEM = chain.bytes
        settings.privateKeyPEM = key.bytes
        var reported: Set<String> = []
        for (path, contents) in [(settings.certificateChainFile, chain), (settings.privateKeyFile, key)] {
            guard let why = contents.keptCopyBecause, reported.insert(path).inserted else { continue }
            logger.warning("cannot re-read a file after dropping privileges; using the copy read at start",
                           metadata: ["listener": "\(config.name)", "path": "\(path)", "error": "\(why)"])
        }
        let context = try TLSContext(settings: settings, ticketKeys: ticketKeys)
        let selfSigned = config.cert == nil
        logger.info(selfSigned ? "self-signed certificate" : "certificate", metadata: [
            "listener": "\(config.name)", "path": "\(context.settings.certificateChainFile)",
            "subject": "\(context.subject)", "fingerprint": "\(context.fingerprint)",
        ])
        return context
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}
