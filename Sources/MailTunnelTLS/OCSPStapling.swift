#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL
internal import CMailTunnelShims
import Synchronization

/// What became of one pair's OCSP response when its context was built, for the log (once per load).
public struct OCSPNote: Sendable, Equatable {
    public var file: String
    public var certificate: String
    public var stapled: Bool
    /// The certificate status when stapled (`good`, `revoked`, `unknown`), otherwise why not.
    public var detail: String
    /// The response's nextUpdate, seconds since the epoch, when it has one.
    public var nextUpdate: Int?
}

/// A response ready to staple for one leaf certificate of a context.
final class OCSPStaple: Sendable {
    /// The leaf's `X509*`, which `SSL_get_certificate` returns for the certificate OpenSSL chose.
    let leafAddress: UInt
    let der: [UInt8]
    let nextUpdate: Int?
    let note: OCSPNote
    /// Set when a handshake first finds the response expired, so that is logged once.
    let expiryReported = Atomic<Bool>(false)

    init(leafAddress: UInt, der: [UInt8], nextUpdate: Int?, note: OCSPNote) {
        self.leafAddress = leafAddress
        self.der = der
        self.nextUpdate = nextUpdate
        self.note = note
    }
}

/// OCSP stapling: the response is checked when the context is built (a successful response holding a
/// single response for this certificate's ID, computed from the leaf and its issuer from the certificate file's
/// chain, and a nextUpdate not passed); at each handshake that asks (status_request) it is stapled unless its
/// nextUpdate has passed since. The responder's signature is the client's to check, as with nginx's
/// `ssl_stapling_file`.
enum OCSPStapling {
    static func prepare(_ identity: TLSIdentity, leaf: OpaquePointer, chain: [OpaquePointer]) -> (OCSPStaple?, OCSPNote)? {
        guard let file = identity.ocspFile else { return nil }
        var note = OCSPNote(file: file, certificate: identity.certificateChainFile, stapled: false, detail: "")
        guard let der = identity.ocspDER, !der.isEmpty else {
            note.detail = "empty or not read"
            return (nil, note)
        }
        switch inspect(der, leaf: leaf, chain: chain) {
        case .failure(let problem):
            note.detail = problem.text
            return (nil, note)
        case .success(let (status, nextUpdate)):
            note.nextUpdate = nextUpdate
            if let nextUpdate, nextUpdate <= Int(time(nil)) {
                note.detail = "expired: its next update (\(CertificateSummary.isoText(nextUpdate))) has passed"
                return (nil, note)
            }
            note.stapled = true
            note.detail = status
            return (OCSPStaple(leafAddress: UInt(bitPattern: leaf), der: der, nextUpdate: nextUpdate, note: note), note)
        }
    }

    struct Problem: Error { var text: String }

    /// The certificate's status and the response's nextUpdate, or why the response does not serve this certificate.
    private static func inspect(_ der: [UInt8], leaf: OpaquePointer, chain: [OpaquePointer])
        -> Result<(String, Int?), Problem> {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_OCSP_RESPONSE(nil, &cursor, buffer.count)
        }
        defer { ERR_clear_error() }
        guard let response = parsed else { return .failure(Problem(text: "not a DER OCSP response")) }
        defer { OCSP_RESPONSE_free(response) }
        let responseStatus = OCSP_response_status(response)
        guard responseStatus == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            return .failure(Problem(text: "the responder answered \(String(cString: OCSP_response_status_str(Int(responseStatus))))"))
        }
        guard let basic = OCSP_response_get1_basic(response) else { return .failure(Problem(text: "no basic response")) }
        defer { OCSP_BASICRESP_free(basic) }
        guard let issuer = chain.first(where: { X509_check_issued($0, leaf) == X509_V_OK }) else {
            return .failure(Problem(text: "the certificate file holds no issuer certificate to match the response against"))
        }
        // openssl ocsp and most responders identify the certificate by SHA-1 hashes; some by SHA-256.
        for digest in [EVP_sha1(), EVP_sha256()] {
            guard let id = OCSP_cert_to_id(digest, leaf, issuer) else { continue }
            defer { OCSP_CERTID_free(id) }
            var status: Int32 = 0
            var reason: Int32 = 0
            var revoked: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
            var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
            var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>?
            guard OCSP_resp_find_status(basic, id, &status, &reason, &revoked, &thisUpdate, &nextUpdate) == 1 else { continue }
            let text = String(cString: OCSP_cert_status_str(Int(status)))
            return .success((text, nextUpdate.flatMap { CertificateSummary.epochSeconds(UnsafePointer($0)) }))
        }
        return .failure(Problem(text: "the response is for another certificate (no status for this one's serial and issuer)"))
    }

    /// Sessions keep their `TLSContext` alive (TLSSession.owner), so the unretained pointer is valid here.
    static let statusCallback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { ssl, arg in
        guard let ssl, let arg else { return SSL_TLSEXT_ERR_NOACK }
        let context = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
        let leaf = UInt(bitPattern: SSL_get_certificate(ssl))
        guard let staple = context.staples.first(where: { $0.leafAddress == leaf }) else { return SSL_TLSEXT_ERR_NOACK }
        if let nextUpdate = staple.nextUpdate, nextUpdate <= Int(time(nil)) {
            if !staple.expiryReported.exchange(true, ordering: .relaxed) {
                var note = staple.note
                note.stapled = false
                note.detail = "expired: its next update (\(CertificateSummary.isoText(nextUpdate))) has passed"
                context.reportStapleExpiry(note)
            }
            return SSL_TLSEXT_ERR_NOACK
        }
        // OpenSSL frees the response it is handed.
        guard let copy = CRYPTO_malloc(staple.der.count, #fileID, #line) else { return SSL_TLSEXT_ERR_NOACK }
        staple.der.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        guard mt_SSL_set_ocsp_response(ssl, copy.assumingMemoryBound(to: UInt8.self), staple.der.count) == 1 else {
            CRYPTO_free(copy, #fileID, #line)
            return SSL_TLSEXT_ERR_NOACK
        }
        return SSL_TLSEXT_ERR_OK
    }
}
