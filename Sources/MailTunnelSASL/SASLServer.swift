internal import CSASL
public import MailTunnelProtocols

/// One libsasl2 server connection (`sasl_conn_t`): one SMTP session's authentication.
///
/// Call order, as Postfix's xsasl_cyrus_server and Cyrus imapd do it: `SASLLibrary.initialize` once per
/// process; here `sasl_server_new`, then (TLS being up) `sasl_setprop` SSF_EXTERNAL / AUTH_EXTERNAL and the
/// security properties; `sasl_listmech`; `sasl_server_start` and `sasl_server_step` until OK or an error;
/// `sasl_getprop(SASL_USERNAME)`; `sasl_dispose` in deinit.
///
/// Data in and out is raw bytes: base64 is the gate's job (see `SMTPAuthenticator`).
/// Not Sendable: one thread at a time uses a session, which is all libsasl2 asks (see `SASLLibrary`), so no
/// call here takes a process-wide lock and sessions of different clients authenticate in parallel.
/// Nothing here logs or stores client responses, so passwords never leave libsasl2.
public final class SASLServer: SMTPAuthenticator {
    /// What the TLS layer knows about the connection.
    public struct TLSFacts: Sendable, Equatable {
        /// Security strength factor of the TLS channel (cipher key bits, e.g. 128 or 256).
        public var strength: UInt32
        /// The verified client certificate identity, offered to the EXTERNAL mechanism.
        public var externalIdentity: String?
        public init(strength: UInt32, externalIdentity: String? = nil) {
            self.strength = strength
            self.externalIdentity = externalIdentity
        }
    }

    private var conn: OpaquePointer?
    /// libsasl2's detail text for the last failure (for the connection's log line; never contains secrets).
    public private(set) var lastErrorDetail: String?

    /// - Parameters:
    ///   - service: the registered service name (GSSAPI principal `service/host`), "smtp" for SMTP.
    ///   - serverFQDN: this host's name; nil means the local host name, as libsasl2 would compute it (computed once
    ///     at `SASLLibrary.initialize`, not per session: it may be a DNS query).
    ///   - realm: the user realm for unqualified user names; nil means libsasl2's default (the server FQDN).
    ///     It must match the realm users were created under in sasldb.
    ///   - local, remote: the connection's endpoints (some mechanisms bind to them).
    ///   - tls: nil means no TLS, in which case plaintext mechanisms are not offered.
    public init(service: String = "smtp", serverFQDN: String? = nil, realm: String? = nil,
                local: SocketEndpoint? = nil, remote: SocketEndpoint? = nil, tls: TLSFacts?) throws(SASLError) {
        var newConn: OpaquePointer? = nil
        // flags 0 (no SASL_SUCCESS_DATA): SMTP cannot carry data with 235, so libsasl2 turns any
        // success data into one more challenge itself.
        let result = sasl_server_new(service, serverFQDN ?? SASLLibrary.serverHostName, realm, local.map(Self.ipPort), remote.map(Self.ipPort), nil, 0, &newConn)
        guard result == SASL_OK, let newConn else {
            throw SASLError(code: result, detail: "sasl_server_new: " + String(cString: sasl_errstring(result, nil, nil)))
        }
        conn = newConn
        try configureSecurity(tls)
    }

    deinit {
        sasl_dispose(&conn)
    }

    /// "a.b.c.d;port" as libsasl2 wants endpoints.
    private static func ipPort(_ endpoint: SocketEndpoint) -> String { "\(endpoint.address);\(endpoint.port)" }

    private func configureSecurity(_ tls: TLSFacts?) throws(SASLError) {
        if let tls {
            var ssf = sasl_ssf_t(tls.strength)
            try check(sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf), "sasl_setprop(SSF_EXTERNAL)")
            if let identity = tls.externalIdentity {
                try check(identity.withCString { sasl_setprop(conn, SASL_AUTH_EXTERNAL, $0) }, "sasl_setprop(AUTH_EXTERNAL)")
            }
        }
        // Plaintext mechanisms (PLAIN, LOGIN) only inside TLS; never anonymous. max_ssf 0: mailtunnel
        // relays bytes untouched after authentication, so no SASL security layer may be negotiated.
        var props = sasl_security_properties_t(
            min_ssf: 0, max_ssf: 0, maxbufsize: 0,
            security_flags: UInt32(SASL_SEC_NOANONYMOUS) | (tls == nil ? UInt32(SASL_SEC_NOPLAINTEXT) : 0),
            property_names: nil, property_values: nil)
        try check(sasl_setprop(conn, SASL_SEC_PROPS, &props), "sasl_setprop(SEC_PROPS)")
    }

    private func check(_ result: Int32, _ what: String) throws(SASLError) {
        guard result == SASL_OK else { throw SASLError(code: result, detail: "\(what): \(detail(result))") }
    }

    private func detail(_ result: Int32) -> String {
        if let text = sasl_errdetail(conn) { return String(cString: text) }
        return String(cString: sasl_errstring(result, nil, nil))
    }

    // MARK: SMTPAuthenticator

    public func mechanisms() -> [String] {
        var list: UnsafePointer<CChar>? = nil
        var length: UInt32 = 0
        var count: Int32 = 0
        guard sasl_listmech(conn, nil, "", " ", "", &list, &length, &count) == SASL_OK, let list else { return [] }
        return String(cString: list).split(separator: " ").map(String.init)
    }

    public func start(mechanism: String, initialResponse: [UInt8]?) -> SMTPAuthStep {
        var out: UnsafePointer<CChar>? = nil
        var outLength: UInt32 = 0
        let result: Int32
        if let initialResponse {
            // An empty initial response ("=") must reach libsasl2 as a non-NULL pointer of length 0;
            // NULL means "no initial response" to it.
            result = Self.withBytes(initialResponse) { pointer, count in
                sasl_server_start(conn, mechanism, pointer, count, &out, &outLength)
            }
        } else {
            result = sasl_server_start(conn, mechanism, nil, 0, &out, &outLength)
        }
        return outcome(result, out, outLength)
    }

    public func step(response: [UInt8]) -> SMTPAuthStep {
        var out: UnsafePointer<CChar>? = nil
        var outLength: UInt32 = 0
        let result = Self.withBytes(response) { pointer, count in
            sasl_server_step(conn, pointer, count, &out, &outLength)
        }
        return outcome(result, out, outLength)
    }

    /// The authenticated user name (SASL_USERNAME), once `start`/`step` returned success; nil before.
    /// Kept separately because libsasl2 sets SASL_USERNAME as soon as it has canonicalized the name,
    /// before (and regardless of whether) the password verifies.
    public private(set) var username: String?

    private func usernameLocked() -> String? { stringProperty(SASL_USERNAME) }

    /// The application name libsasl2 copied into this session from `sasl_server_init` (SASL_APPNAME).
    var applicationName: String? { stringProperty(SASL_APPNAME) }

    private func stringProperty(_ property: Int32) -> String? {
        var value: UnsafeRawPointer? = nil
        guard sasl_getprop(conn, property, &value) == SASL_OK, let value else { return nil }
        return String(cString: value.assumingMemoryBound(to: CChar.self))
    }

    private func outcome(_ result: Int32, _ out: UnsafePointer<CChar>?, _ outLength: UInt32) -> SMTPAuthStep {
        let data: [UInt8] = out.map { pointer in
            Array(UnsafeRawBufferPointer(start: pointer, count: Int(outLength)))
        } ?? []
        switch result {
        case SASL_CONTINUE:
            return .challenge(data)
        case SASL_OK:
            guard let user = usernameLocked() else {
                lastErrorDetail = "authentication succeeded but libsasl2 reported no user name"
                return .failure(.temporary(detail: lastErrorDetail!))
            }
            lastErrorDetail = nil
            username = user
            return .success(user: user, additionalData: data.isEmpty ? nil : data)
        default:
            let text = detail(result)
            lastErrorDetail = text
            return .failure(SASLResultMapping.failure(result, detail: text))
        }
    }

    /// Hands libsasl2 a pointer that is never NULL, even for zero bytes.
    private static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>, UInt32) -> R) -> R {
        let padded = bytes + [0]
        return padded.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: padded.count) { body($0, UInt32(bytes.count)) }
        }
    }
}
