internal import COpenSSL
internal import CMailTunnelShims
import Synchronization

/// Owns one `SSL_CTX`: identity, trust, versions, ciphers. Immutable once built, so sessions may be
/// created from any thread (OpenSSL reference-counts the context for each `SSL`); a reload builds a new one.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    public let settings: TLSSettings
    /// SHA-256 of the leaf certificate, `AB:CD:…`, for logs.
    public let fingerprint: String
    public let subject: String
    /// The names this context's certificates carry (its SNI group, see `CertificateSelection`).
    let names: [String]
    /// The certificates this context serves, in the order given.
    let ownCertificates: [CertificateSummary]
    let staples: [OCSPStaple]
    let ownOCSPNotes: [OCSPNote]
    /// The contexts of the other SNI groups (only on the first), and every group's names, this one's first.
    private(set) var siblings: [TLSContext] = []
    private(set) var serverNameTable: [[String]] = []
    private let stapleExpiryReporter = Mutex<(@Sendable (OCSPNote) -> Void)?>(nil)

    /// The listener's session-ticket keys; kept here because OpenSSL's callback reaches them unretained.
    public let ticketKeys: TicketKeyRing?

    /// Every pair of `settings`; several name groups become one context per group behind SNI. Every group's
    /// context encrypts and decrypts tickets with the same keys, so a session resumes under any name.
    public convenience init(settings: TLSSettings, ticketKeys: TicketKeyRing? = nil) throws(TLSError) {
        let groups = try CertificateSelection.groups(settings)
        try self.init(settings: settings, serving: groups[0], ticketKeys: ticketKeys)
        for group in groups.dropFirst() {
            siblings.append(try TLSContext(settings: settings, serving: group, ticketKeys: ticketKeys))
        }
        serverNameTable = [names] + siblings.map(\.names)
        if !siblings.isEmpty { CertificateSelection.installServerNameCallback(self) }
    }

    init(settings: TLSSettings, serving group: CertificateSelection.Group, ticketKeys: TicketKeyRing?) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.fromErrorQueue("SSL_CTX_new")
        }
        self.context = ctx
        self.settings = settings
        self.names = group.names
        self.ticketKeys = ticketKeys
        var loaded: [(identity: TLSIdentity, leaf: OpaquePointer, chain: [OpaquePointer])] = []
        do {
            try Self.configureProtocol(ctx, settings)
            for identity in group.identities { loaded.append(try Self.loadIdentity(ctx, identity)) }
            try ClientVerification.configure(ctx, settings)
            if let ticketKeys {
                TicketKeyCallback.install(ctx, ring: ticketKeys, lifetimeSeconds: settings.ticketLifetimeSeconds ?? 3600)
            }
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        self.fingerprint = X509Inspector.sha256Fingerprint(loaded[0].leaf)
        self.subject = X509Inspector.subjectLine(loaded[0].leaf)
        self.ownCertificates = loaded.map { CertificateSummary(leaf: $0.leaf, path: $0.identity.certificateChainFile) }
        let stapling = loaded.compactMap { OCSPStapling.prepare($0.identity, leaf: $0.leaf, chain: $0.chain) }
        self.staples = stapling.compactMap(\.0)
        self.ownOCSPNotes = stapling.map(\.1)
        if !staples.isEmpty {
            _ = mt_SSL_CTX_set_status_callback(ctx, OCSPStapling.statusCallback, Unmanaged.passUnretained(self).toOpaque())
        }
    }

    /// Every certificate served, all SNI groups.
    public var certificates: [CertificateSummary] { ownCertificates + siblings.flatMap(\.ownCertificates) }

    /// What became of each OCSP response at load.
    public var ocspNotes: [OCSPNote] { ownOCSPNotes + siblings.flatMap(\.ownOCSPNotes) }

    /// Called (once per response) when a handshake finds a stapled response past its nextUpdate.
    public func onStapleExpiry(_ report: @escaping @Sendable (OCSPNote) -> Void) {
        stapleExpiryReporter.withLock { $0 = report }
        for sibling in siblings { sibling.onStapleExpiry(report) }
    }

    func reportStapleExpiry(_ note: OCSPNote) { stapleExpiryReporter.withLock { $0 }?(note) }

    deinit { SSL_CTX_free(context) }

    /// The read buffer with read-ahead on: four maximum-size TLS records (16 KiB plaintext plus header and
    /// AEAD overhead each), so a relay read of 16 KiB usually costs one system call or less.
    static let readBufferLength = 4 * (16 * 1024 + 256 + 5)

    /// A server-side session on an accepted, non-blocking socket.
    public func makeSession(socket: Int32) throws(TLSError) -> TLSSession {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.fromErrorQueue("SSL_new") }
        SSL_set_accept_state(ssl)
        let session = TLSSession(ssl: ssl, socket: socket) // frees the SSL when dropped
        session.owner = self  // OpenSSL's SNI and OCSP callbacks reach this context through a plain pointer
        try session.attachSocket()
        return session
    }

    private static func configureProtocol(_ ctx: OpaquePointer, _ s: TLSSettings) throws(TLSError) {
        // Renegotiation and compression off (CRIME, renegotiation DoS); server picks the cipher.
        let options = mt_ssl_op_no_compression() | mt_ssl_op_no_renegotiation()
            | mt_ssl_op_cipher_server_preference() | mt_ssl_op_no_sslv3() | mt_ssl_op_no_tlsv1() | mt_ssl_op_no_tlsv1_1()
        SSL_CTX_set_options(ctx, options)
        SSL_CTX_clear_options(ctx, mt_ssl_op_allow_client_renegotiation())
        guard mt_SSL_CTX_set_min_proto_version(ctx, s.minimumVersion) == 1 else {
            throw TLSError.fromErrorQueue("tls-min")
        }
        // Partial writes let the relay hand OpenSSL whatever it has; RELEASE_BUFFERS keeps idle sessions small;
        // the moving buffer mode allows a retried write to come from a different (copied) buffer.
        _ = mt_SSL_CTX_set_mode(ctx, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
            | SSL_MODE_RELEASE_BUFFERS))
        // Read-ahead: OpenSSL reads as much as the socket holds into one buffer sized for several full records,
        // instead of each record in two calls (its 5-byte header, then its body). The buffer is still released
        // when empty (RELEASE_BUFFERS), so an idle session keeps none.
        _ = mt_SSL_CTX_set_read_ahead(ctx, 1)
        SSL_CTX_set_default_read_buffer_len(ctx, TLSContext.readBufferLength)
        guard SSL_CTX_set_cipher_list(ctx, s.ciphers) == 1 else { throw TLSError.fromErrorQueue("ciphers \(s.ciphers)") }
        if let suites = s.ciphersuites {
            guard SSL_CTX_set_ciphersuites(ctx, suites) == 1 else { throw TLSError.fromErrorQueue("ciphersuites \(suites)") }
        }
        // Server-side session cache plus tickets (OpenSSL's default) give resumption.
        _ = mt_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        let sid = Array(s.sessionContext.utf8.prefix(Int(SSL_MAX_SID_CTX_LENGTH)))
        _ = SSL_CTX_set_session_id_context(ctx, sid, UInt32(sid.count))
    }

    /// Loads one pair into the slot of its key type; returns its leaf and chain (owned by the context).
    private static func loadIdentity(_ ctx: OpaquePointer, _ s: TLSIdentity) throws(TLSError)
        -> (identity: TLSIdentity, leaf: OpaquePointer, chain: [OpaquePointer]) {
        if let chain = s.certificateChainPEM, let key = s.privateKeyPEM {
            try loadChain(ctx, pem: chain, path: s.certificateChainFile)
            try loadKey(ctx, pem: key, path: s.privateKeyFile)
        } else {
            guard SSL_CTX_use_certificate_chain_file(ctx, s.certificateChainFile) == 1 else {
                throw TLSError.fromErrorQueue("cert \(s.certificateChainFile)")
            }
            guard SSL_CTX_use_PrivateKey_file(ctx, s.privateKeyFile, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError.fromErrorQueue("key \(s.privateKeyFile)")
            }
        }
        guard SSL_CTX_check_private_key(ctx) == 1, let leaf = SSL_CTX_get0_certificate(ctx) else {
            throw TLSError.fromErrorQueue("key \(s.privateKeyFile) does not match cert \(s.certificateChainFile)")
        }
        let stack = mt_SSL_CTX_get0_chain_certs(ctx)
        let chain = (0..<(stack.map { mt_sk_X509_num($0) } ?? 0)).compactMap { mt_sk_X509_value(stack, $0) }
        return (s, leaf, chain)
    }

    /// What SSL_CTX_use_certificate_chain_file does, from bytes: the first certificate is the leaf, the rest
    /// its chain (other PEM blocks, such as a key in the same file, are skipped).
    private static func loadChain(_ ctx: OpaquePointer, pem: [UInt8], path: String) throws(TLSError) {
        guard let bio = memoryBIO(pem) else { throw TLSError.fromErrorQueue("cert \(path)") }
        defer { BIO_free(bio) }
        guard let leaf = PEM_read_bio_X509_AUX(bio, nil, nil, nil) else { throw TLSError.fromErrorQueue("cert \(path)") }
        defer { X509_free(leaf) }
        guard SSL_CTX_use_certificate(ctx, leaf) == 1 else { throw TLSError.fromErrorQueue("cert \(path)") }
        while let extra = PEM_read_bio_X509(bio, nil, nil, nil) {
            // On success the context owns the certificate; the chain belongs to this leaf's slot (RSA and ECDSA
            // pairs in one context keep their own chains).
            guard mt_SSL_CTX_add0_chain_cert(ctx, extra) == 1 else {
                X509_free(extra)
                throw TLSError.fromErrorQueue("cert \(path) chain")
            }
        }
        // The loop ends on "no start line" at the end of the data; anything else is a broken certificate.
        let last = ERR_peek_last_error()
        guard ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE else {
            throw TLSError.fromErrorQueue("cert \(path) chain")
        }
        ERR_clear_error()
    }

    private static func loadKey(_ ctx: OpaquePointer, pem: [UInt8], path: String) throws(TLSError) {
        guard let bio = memoryBIO(pem) else { throw TLSError.fromErrorQueue("key \(path)") }
        defer { BIO_free(bio) }
        guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else { throw TLSError.fromErrorQueue("key \(path)") }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_PrivateKey(ctx, key) == 1 else { throw TLSError.fromErrorQueue("key \(path)") }
    }

    /// A BIO holding its own copy of the bytes.
    static func memoryBIO(_ bytes: [UInt8]) -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else {
            BIO_free(bio)
            return nil
        }
        return bio
    }
}
