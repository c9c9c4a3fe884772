internal import COpenSSL
internal import CMailTunnelShims
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The client end of TLS: mailtunnel's client mode (TLS towards the remote server), and the engine harness's
/// test client. The server's certificate is always verified when trust is configured (the daemon always
/// configures it: `ca-file`/`ca-path` or the system store), and its name checked per session.
/// Resumption: each session (TLS 1.2) or ticket (TLS 1.3) the server hands out is kept per server name, as
/// OpenSSL's new-session callback delivers it, and offered once to the next connection to that name (RFC 8446
/// C.4: a client should not reuse a ticket).
package final class TLSClientContext: @unchecked Sendable {
    private let context: OpaquePointer
    /// The kept sessions, and which server name each live connection is for.
    private let sessions = Mutex(KeptSessions())

    /// `caFile`: trust for the server's certificate (nil: not checked); `certificateFile`/`keyFile`: the
    /// client certificate to present, if any. (The engine harness's test client.)
    package init(caFile: String?, certificateFile: String? = nil, keyFile: String? = nil) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError.fromErrorQueue("SSL_CTX_new") }
        context = ctx
        if let caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else { throw TLSError.fromErrorQueue("ca") }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        }
        try Self.useCertificate(ctx, certificateFile, keyFile)
    }

    /// Client mode: the server must present a certificate that verifies against `settings`' trust (or the
    /// system store) and carries the name each session is made for.
    package init(settings s: TLSClientSettings) throws(TLSError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError.fromErrorQueue("SSL_CTX_new") }
        context = ctx
        if s.caFile != nil || s.caPath != nil {
            guard SSL_CTX_load_verify_locations(ctx, s.caFile, s.caPath) == 1 else {
                throw TLSError.fromErrorQueue("ca-file \(s.caFile ?? s.caPath ?? "")")
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw TLSError.fromErrorQueue("system trust store")
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        SSL_CTX_set_verify_depth(ctx, s.verifyDepth)
        guard mt_SSL_CTX_set_min_proto_version(ctx, s.minimumVersion) == 1 else {
            throw TLSError.fromErrorQueue("tls-min")
        }
        guard SSL_CTX_set_cipher_list(ctx, s.ciphers) == 1 else { throw TLSError.fromErrorQueue("ciphers \(s.ciphers)") }
        if let suites = s.ciphersuites {
            guard SSL_CTX_set_ciphersuites(ctx, suites) == 1 else { throw TLSError.fromErrorQueue("ciphersuites \(suites)") }
        }
        // Sessions are kept by this class, not OpenSSL's internal cache (which a client does not search anyway).
        _ = mt_SSL_CTX_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
        try Self.useCertificate(ctx, s.certificateFile, s.keyFile)
        // The callback finds this object through the context (which it owns, so the pointer never outlives it).
        _ = SSL_CTX_set_ex_data(ctx, 0, Unmanaged.passUnretained(self).toOpaque())
        SSL_CTX_sess_set_new_cb(ctx) { ssl, session in
            guard let ssl, let session, let owner = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), 0) else { return 0 }
            return Unmanaged<TLSClientContext>.fromOpaque(owner).takeUnretainedValue().received(session, on: ssl) ? 1 : 0
        }
    }

    private static func useCertificate(_ ctx: OpaquePointer, _ certificateFile: String?, _ keyFile: String?) throws(TLSError) {
        guard let certificateFile else { return }
        guard SSL_CTX_use_certificate_chain_file(ctx, certificateFile) == 1,
              SSL_CTX_use_PrivateKey_file(ctx, keyFile ?? certificateFile, SSL_FILETYPE_PEM) == 1,
              SSL_CTX_check_private_key(ctx) == 1
        else { throw TLSError.fromErrorQueue("client certificate") }
    }

    deinit {
        sessions.withLock { kept in kept.byName.values.forEach { SSL_SESSION_free($0) } }
        SSL_CTX_free(context)
    }

    /// A client-side session on a connected socket (blocking or not; the session's calls behave accordingly).
    package func makeSession(socket: Int32) throws(TLSError) -> TLSSession {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else { throw TLSError.fromErrorQueue("SSL_new") }
        guard SSL_set_fd(ssl, socket) == 1 else {
            SSL_free(ssl)
            throw TLSError.fromErrorQueue("SSL_set_fd")
        }
        SSL_set_connect_state(ssl)
        // A plain socket BIO: each flight is written at once (the server's coalescing is not wanted here).
        return TLSSession(ssl: ssl, socket: socket)
    }

    /// A session for the server `name`: its certificate must carry `name` (as a DNS name, or as an IP address
    /// SAN when `name` is an address literal); a DNS name is also sent as SNI; a kept session for `name` is offered.
    package func makeSession(socket: Int32, serverName name: String) throws(TLSError) -> TLSSession {
        let session = try makeSession(socket: socket)
        let ssl = session.ssl
        if Self.isAddressLiteral(name) {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                throw TLSError.fromErrorQueue("verify-host \(name)")
            }
        } else {
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            guard SSL_set1_host(ssl, name) == 1 else { throw TLSError.fromErrorQueue("verify-host \(name)") }
            // SSL_set_tlsext_host_name is a macro over SSL_ctrl.
            let sent = name.withCString { SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name),
                                                   UnsafeMutableRawPointer(mutating: $0)) }
            guard sent == 1 else { throw TLSError.fromErrorQueue("SNI \(name)") }
        }
        sessions.withLock { kept in
            kept.nameOf[Int(bitPattern: ssl)] = name
            // Offered once: the server hands out a fresh one on every handshake, resumed or not.
            if let previous = kept.byName.removeValue(forKey: name) {
                _ = SSL_set_session(ssl, previous)
                SSL_SESSION_free(previous)
            }
        }
        return session
    }

    /// The new-session callback: keeps `session` for the server `ssl` is connected to. True: the reference is ours.
    private func received(_ session: OpaquePointer, on ssl: OpaquePointer) -> Bool {
        guard SSL_SESSION_is_resumable(session) == 1 else { return false }
        return sessions.withLock { kept in
            guard let name = kept.nameOf[Int(bitPattern: ssl)] else { return false }
            if let previous = kept.byName.updateValue(session, forKey: name) { SSL_SESSION_free(previous) }
            return true
        }
    }

    /// The connection ends: no more sessions are taken from it.
    package func forget(_ session: TLSSession) {
        _ = sessions.withLock { kept in kept.nameOf.removeValue(forKey: Int(bitPattern: session.ssl)) }
    }

    private static func isAddressLiteral(_ name: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, name, &buffer) == 1 || inet_pton(AF_INET6, name, &buffer) == 1
    }
}

/// OpenSSL sessions are reference-counted and safe to share between threads; the lock around them orders use.
private struct KeptSessions: @unchecked Sendable {
    /// Server name → the session to offer next (one reference each, freed when replaced or taken).
    var byName: [String: OpaquePointer] = [:]
    /// Live client-mode connections (their `SSL*`) → the server name they are for.
    var nameOf: [Int: String] = [:]
}
