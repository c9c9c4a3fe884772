#if canImport(Glibc)
import Glibc
#endif
import MailTunnelTLS

/// The expiry gauge of /metrics: seconds until each served certificate's not-after, per listener and file
/// (negative once expired), so an alert can fire long before clients see an expired certificate.
enum CertificateMetrics {
    static func render(_ served: [(listener: String, certificates: [CertificateSummary])]) -> String {
        let metric = "mailtunnel_certificate_expiry_seconds"
        var text = "# HELP \(metric) Seconds until the served certificate's notAfter (negative once expired).\n"
            + "# TYPE \(metric) gauge\n"
        let now = Int(time(nil))
        for (listener, certificates) in served {
            for certificate in certificates {
                text += "\(metric){listener=\"\(ListenerStats.escape(listener))\",path=\"\(ListenerStats.escape(certificate.path))\","
                    + "subject=\"\(ListenerStats.escape(certificate.subject))\"} \(certificate.notAfter - now)\n"
            }
        }
        return text
    }
}
