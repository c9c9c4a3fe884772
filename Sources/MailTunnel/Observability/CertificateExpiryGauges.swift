import CoreMetrics
import Synchronization

/// `mailtunnel_certificate_expiry_seconds{listener,subject}`: seconds until the certificate a listener serves
/// runs out (negative once expired). A countdown that was only set at start and on reload would freeze between
/// them, so the daemon sets it before every scrape from the context each listener serves then, which follows a
/// reload (SIGHUP) too. A listener's old series goes when its subject changes or the listener is removed.
final class CertificateExpiryGauges: Sendable {
    struct Served: Sendable {
        var listener: String
        var subject: String
        /// Seconds since the epoch.
        var notAfter: Int
    }

    private let factory: any MetricsFactory
    private let gauges = Mutex<[String: (subject: String, gauge: Gauge)]>([:])

    init(factory: any MetricsFactory) { self.factory = factory }

    func update(_ served: [Served], now: Int) {
        gauges.withLock { gauges in
            for entry in served {
                if let existing = gauges[entry.listener], existing.subject != entry.subject {
                    existing.gauge.destroy()
                    gauges[entry.listener] = nil
                }
                let gauge = gauges[entry.listener]?.gauge
                    ?? Gauge(label: MetricCatalog.certificateExpiry,
                             dimensions: [("listener", entry.listener), ("subject", entry.subject)], factory: factory)
                gauges[entry.listener] = (entry.subject, gauge)
                gauge.record(entry.notAfter - now)
            }
            let current = Set(served.map(\.listener))
            for (listener, gone) in gauges where !current.contains(listener) {
                gone.gauge.destroy()
                gauges[listener] = nil
            }
        }
    }
}
