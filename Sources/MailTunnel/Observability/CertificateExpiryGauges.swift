import CoreMetrics

/// `mailtunnel_certificate_expiry_seconds{listener,path,subject}`: seconds until each certificate a listener serves
/// (one per SNI pair) runs out, negative once expired. A countdown that was only set at start and on reload would
/// freeze between them, so the daemon sets it before every scrape from the certificates each listener serves then,
/// which follows a reload or a renewal too. A series goes when its subject changes or it is no longer served.
final class CertificateExpiryGauges: Sendable {
    struct Served: Sendable {
        var listener: String
        var path: String
        var subject: String
        /// Seconds since the epoch.
        var notAfter: Int
    }

    private let factory: any MetricsFactory
    private let gauges = LockedState<[String: (subject: String, gauge: Gauge)]>([:])

    init(factory: any MetricsFactory) { self.factory = factory }

    func update(_ served: [Served], now: Int) {
        gauges.withLock { gauges in
            var current: Set<String> = []
            for entry in served {
                let key = entry.listener + "\u{0}" + entry.path
                current.insert(key)
                if let existing = gauges[key], existing.subject != entry.subject {
                    existing.gauge.destroy()
                    gauges[key] = nil
                }
                let gauge = gauges[key]?.gauge
                    ?? Gauge(label: MetricCatalog.certificateExpiry,
                             dimensions: [("listener", entry.listener), ("path", entry.path), ("subject", entry.subject)],
                             factory: factory)
                gauges[key] = (entry.subject, gauge)
                gauge.record(entry.notAfter - now)
            }
            for (key, gone) in gauges where !current.contains(key) {
                gone.gauge.destroy()
                gauges[key] = nil
            }
        }
    }
}
