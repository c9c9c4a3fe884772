#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL

extension TLSContext {
    /// The end of the served (leaf) certificate's validity in seconds since the epoch, for the expiry metric;
    /// nil when OpenSSL cannot read the time.
    public var notAfter: Int? {
        guard let leaf = SSL_CTX_get0_certificate(context), let time = X509_get0_notAfter(leaf) else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Int(timegm(&parts))
    }
}
