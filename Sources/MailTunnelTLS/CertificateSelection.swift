internal import COpenSSL
internal import CMailTunnelShims

/// SNI: pairs are grouped by the names their certificates carry; each group gets its own `SSL_CTX` (RSA and
/// ECDSA certificates of one group sit side by side in it, and OpenSSL picks by the client's signature
/// algorithms). The first group's context is the one sessions start on; its servername callback moves a session
/// to the group that matches the client's name (`SSL_set_SSL_CTX`, as nginx does). Session tickets and the
/// session cache stay with the first context, so resumption works across names.
enum CertificateSelection {
    struct Group {
        /// Lower-cased DNS SANs, or the CN when there is none.
        var names: [String]
        var identities: [TLSIdentity]
    }

    /// Pairs with the same set of names form one group, in the order their first pair was given.
    static func groups(_ settings: TLSSettings) throws(TLSError) -> [Group] {
        var groups: [Group] = []
        for identity in settings.identities {
            let names = try leafNames(identity)
            if let index = groups.firstIndex(where: { Set($0.names) == Set(names) }) {
                groups[index].identities.append(identity)
            } else {
                groups.append(Group(names: names, identities: [identity]))
            }
        }
        return groups
    }

    private static func leafNames(_ identity: TLSIdentity) throws(TLSError) -> [String] {
        let path = identity.certificateChainFile
        let bio: OpaquePointer?
        if let pem = identity.certificateChainPEM { bio = TLSContext.memoryBIO(pem) } else { bio = BIO_new_file(path, "r") }
        guard let bio else { throw TLSError.fromErrorQueue("cert \(path)") }
        defer { BIO_free(bio) }
        guard let leaf = PEM_read_bio_X509_AUX(bio, nil, nil, nil) else { throw TLSError.fromErrorQueue("cert \(path)") }
        defer { X509_free(leaf) }
        return CertificateSummary(leaf: leaf, path: path).names.map { $0.lowercased() }
    }

    /// Installed on the first group's context when there is more than one group.
    static func installServerNameCallback(_ context: TLSContext) {
        _ = mt_SSL_CTX_set_servername_callback(context.context, serverNameCallback,
                                               Unmanaged.passUnretained(context).toOpaque())
    }

    /// Sessions keep their `TLSContext` alive (TLSSession.owner), so the unretained pointer is valid here.
    private static let serverNameCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?,
                                                           UnsafeMutableRawPointer?) -> Int32 = { ssl, _, arg in
        guard let ssl, let arg, let name = SSL_get_servername(ssl, Int32(TLSEXT_NAMETYPE_host_name)) else {
            return SSL_TLSEXT_ERR_OK
        }
        let first = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
        if let index = ServerNameMatcher.group(for: String(cString: name), in: first.serverNameTable), index > 0 {
            _ = SSL_set_SSL_CTX(ssl, first.siblings[index - 1].context)
        }
        return SSL_TLSEXT_ERR_OK
    }
}
