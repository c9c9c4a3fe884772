internal import COpenSSL

/// OpenSSL's session-ticket key callback (TLS 1.2 and TLS 1.3 tickets alike), over a listener's `TicketKeyRing`.
/// The ring is found through the SSL_CTX's app data (index 0), set by `TLSContext`, which keeps the ring alive
/// as long as the context and so as long as any session made from it.
enum TicketKeyCallback {
    static func install(_ ctx: OpaquePointer, ring: TicketKeyRing, lifetimeSeconds: Int) {
        _ = SSL_CTX_set_ex_data(ctx, 0, Unmanaged.passUnretained(ring).toOpaque())
        _ = SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, callback)
        // The ticket's lifetime hint, and how long OpenSSL accepts the session a ticket carries.
        _ = SSL_CTX_set_timeout(ctx, lifetimeSeconds)
    }

    private static let ivLength = 16

    /// enc 1: fill name and IV, set up encryption; enc 0: find the key by name. Returns 1 (use), 2 (use and
    /// issue a fresh ticket under the current key), 0 (no ticket / unknown key: full handshake), -1 (error).
    private static let callback: @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?, OpaquePointer?, OpaquePointer?, Int32
    ) -> Int32 = { ssl, name, iv, cipher, mac, enc in
        guard let ssl, let name, let iv, let cipher, let mac, let ctx = SSL_get_SSL_CTX(ssl),
              let raw = SSL_CTX_get_ex_data(ctx, 0) else { return -1 }
        let ring = Unmanaged<TicketKeyRing>.fromOpaque(raw).takeUnretainedValue()
        if enc == 1 {
            guard let key = ring.encryptionKey() else { return 0 }
            key.name.withUnsafeBufferPointer { name.update(from: $0.baseAddress!, count: 16) }
            guard RAND_bytes(iv, Int32(ivLength)) == 1,
                  key.aesKey.withUnsafeBufferPointer({ EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nil, $0.baseAddress, iv) }) == 1,
                  initMAC(mac, key.hmacKey) else { return -1 }
            return 1
        }
        guard let (key, current) = ring.decryptionKey(named: UnsafeRawBufferPointer(start: name, count: 16)) else {
            return 0
        }
        guard initMAC(mac, key.hmacKey),
              key.aesKey.withUnsafeBufferPointer({ EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nil, $0.baseAddress, iv) }) == 1
        else { return -1 }
        // TLS 1.3 sends a new ticket after a resumption only when asked to (2); clients use each ticket once,
        // so without it every other connection would be a full handshake. TLS 1.2 keeps a ticket under the
        // current key.
        return current && SSL_version(ssl) < TLS1_3_VERSION ? 1 : 2
    }

    /// An OSSL_PARAM keeps pointers to its key and value until it is used, so both C strings must outlive the
    /// `EVP_MAC_CTX_set_params` call: a string literal passed as `"digest"` is a temporary freed right after
    /// `OSSL_PARAM_construct_utf8_string` returns (AddressSanitizer's heap-use-after-free in OSSL_PARAM_locate).
    private static func initMAC(_ mac: OpaquePointer, _ key: [UInt8]) -> Bool {
        var paramName = Array("digest".utf8CString)
        var digest = Array("SHA256".utf8CString)
        return paramName.withUnsafeMutableBufferPointer { paramName in
            digest.withUnsafeMutableBufferPointer { digestName in
                var params = [OSSL_PARAM_construct_utf8_string(paramName.baseAddress, digestName.baseAddress, 0),
                              OSSL_PARAM_construct_end()]
                guard EVP_MAC_CTX_set_params(mac, &params) == 1 else { return false }
                return key.withUnsafeBufferPointer { EVP_MAC_init(mac, $0.baseAddress, $0.count, nil) } == 1
            }
        }
    }
}
