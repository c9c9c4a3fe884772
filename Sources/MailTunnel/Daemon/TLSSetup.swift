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
        var pairs = config.certificatePairs
        if pairs.isEmpty {
            let files = try SelfSignedCertificate.loadOrCreate(
                stateDirectory: stateDirectory(stateDir), commonName: hostName())
            pairs = [CertificatePair(cert: files.certificate, key: files.key)]
        }
        var settings = TLSSettings(
            certificateChainFile: pairs[0].cert, privateKeyFile: pairs[0].key,
            minimumVersion: config.tlsMin == .v1_3 ? 0x0304 : 0x0303,
            ciphers: config.ciphers, ciphersuites: config.ciphersuites,
            clientCertificates: config.verify,
            caFile: config.caFile, caPath: config.caPath, crlFile: config.crlFile,
            verifyDepth: Int32(config.verifyDepth), sessionContext: "mailtunnel:" + config.name)
        settings.identities = pairs.map {
            TLSIdentity(certificateChainFile: $0.cert, privateKeyFile: $0.key, ocspFile: $0.ocspFile)
        }
        settings.ticketLifetimeSeconds = max(1, Int(config.ticketLifetime.rounded(.up)))
        return settings
    }

    static func makeContext(_ config: ListenerConfig, stateDir: String?, ticketKeys: TicketKeyRing,
                            logger: Logger) throws(TLSError) -> TLSContext {
        var settings = try settings(config, stateDir: stateDir)
        // Operators' certificate paths may be symbolic links (e.g. certbot's live/); the generated ones may not.
        let follow = config.cert != nil
        var reported: Set<String> = []
        func read(_ path: String) throws(TLSError) -> [UInt8] {
            let contents = try KeyFiles.shared.read(path, followSymlinks: follow)
            if let why = contents.keptCopyBecause, reported.insert(path).inserted {
                logger.warning("cannot re-read a file after dropping privileges; using the copy read at start",
                               metadata: ["listener": "\(config.name)", "path": "\(path)", "error": "\(why)"])
            }
            return contents.bytes
        }
        for index in settings.identities.indices {
            settings.identities[index].certificateChainPEM = try read(settings.identities[index].certificateChainFile)
            settings.identities[index].privateKeyPEM = try read(settings.identities[index].privateKeyFile)
            settings.identities[index].ocspDER = try settings.identities[index].ocspFile.map { path throws(TLSError) in
                try read(path)
            }
        }
        let context = try TLSContext(settings: settings, ticketKeys: ticketKeys)
        context.onStapleExpiry { note in
            logger.warning("ocsp response not stapled", metadata: [
                "listener": "\(config.name)", "path": "\(note.file)", "cert": "\(note.certificate)", "reason": "\(note.detail)",
            ])
        }
        logLoaded(context, listener: config.name, selfSigned: config.cert == nil, logger: logger)
        return context
    }

    /// One line per certificate (with its not-after) and per OCSP response: what a start or a reload serves.
    static func logLoaded(_ context: TLSContext, listener: String, selfSigned: Bool, logger: Logger) {
        for certificate in context.certificates {
            let metadata: Logger.Metadata = [
                "listener": "\(listener)", "path": "\(certificate.path)", "subject": "\(certificate.subject)",
                "names": "\(certificate.names.joined(separator: ","))", "key_type": "\(certificate.keyType)",
                "not_after": "\(certificate.notAfterText)", "fingerprint": "\(certificate.fingerprint)",
            ]
            // Clients will warn about (or refuse) a self-signed certificate: fine for a test, not for service.
            if selfSigned {
                logger.warning("self-signed certificate in use; set cert and key for production", metadata: metadata)
            } else {
                logger.info("certificate", metadata: metadata)
            }
        }
        for note in context.ocspNotes {
            var metadata: Logger.Metadata = ["listener": "\(listener)", "path": "\(note.file)", "cert": "\(note.certificate)"]
            if note.stapled {
                metadata["status"] = "\(note.detail)"
                if let next = note.nextUpdate { metadata["next_update"] = "\(CertificateSummary.isoText(next))" }
                logger.info("ocsp response", metadata: metadata)
            } else {
                metadata["reason"] = "\(note.detail)"
                logger.warning("ocsp response not stapled", metadata: metadata)
            }
        }
    }

    /// The files a listener's TLS material comes from: a change to any of them reloads it (ca-path: its directory).
    static func watchedPaths(_ config: ListenerConfig) -> [String] {
        let pairs = config.certificatePairs
        return pairs.map(\.cert) + pairs.map(\.key) + pairs.compactMap(\.ocspFile)
            + [config.caFile, config.caPath, config.crlFile].compactMap { $0 }
    }

    static func hostName() -> String { HostName.current }
}
