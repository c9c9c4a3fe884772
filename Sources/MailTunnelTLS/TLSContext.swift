internal import COpenSSL
internal import CMailTunnelShims

/// Owns one `SSL_CTX`: identity, trust, versions, ciphers. Immutable once built, so sessions may be
/// created from any thread (OpenSSL reference-counts the context for each `SSL`); a reload builds a new one.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    public let settings: TLSSettings
    /// SHA-256 of the leaf certificate, `AB:CD:…`, for logs.
    public let fingerprint: String
    public let subject: String
    /// The listener's session-ticket keys; kept here because OpenSSL's callback reaches them unretained.
    public let ticketKeys: TicketKeyRing?

    public init(settings: TLSSettings, ticketKeys: TicketKeyRing? = nil) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError.fromErrorQueue("SSL_CTX_new")
        }
        self.context = ctx
        self.settings = settings
        self.ticketKeys = ticketKeys
        do {
            try Self.configureProtocol(ctx, settings)
            try Self.loadIdentity(ctx, settings)
            try ClientVerification.configure(ctx, settings)
            if let ticketKeys {
                TicketKeyCallback.install(ctx, ring: ticketKeys, lifetimeSeconds: settings.ticketLifetimeSeconds ?? 3600)
            }
        } catch {
            SSL_CTX_free(ctx)
            throw error
        }
        guard let leaf = SSL_CTX_get0_certificate(ctx) else {
            SSL_CTX_free(ctx)
            throw TLSError(operation: "certificate", reasons: ["no certificate loaded"])
        }
        self.fingerprint = X509Inspector.sha256Fingerprint(leaf)
        self.subject = X509Inspector.subjectLine(leaf)
    }

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

    private static func loadIdentity(_ ctx: OpaquePointer, _ s: TLSSettings) throws(TLSError) {
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
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError.fromErrorQueue("key \(s.privateKeyFile) does not match cert \(s.certificateChainFile)")
        }
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
            // On success the context owns the certificate.
            guard mt_SSL_CTX_add_extra_chain_cert(ctx, extra) == 1 else {
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
    private static func memoryBIO(_ bytes: [UInt8]) -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        let written = bytes.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        guard written == Int32(bytes.count) else {
            BIO_free(bio)
            return nil
        }
        return bio
    }
}
