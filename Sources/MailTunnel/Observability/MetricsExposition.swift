#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import Prometheus

/// The process's metrics: swift-metrics bootstrapped once onto one swift-prometheus registry, which GET /metrics
/// renders in the Prometheus text format (0.0.4).
final class MetricsExposition: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: any MetricsFactory
    let certificates: CertificateExpiryGauges

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        factory = DescribedPrometheusFactory(registry: registry)
        certificates = CertificateExpiryGauges(factory: factory)
    }

    /// A new exposition that `MetricsSystem` hands every metric to. Once per process: swift-metrics refuses a
    /// second bootstrap.
    static func bootstrapped() -> MetricsExposition {
        let exposition = MetricsExposition()
        MetricsSystem.bootstrap(exposition.factory)
        return exposition
    }

    func text(serving served: [CertificateExpiryGauges.Served]) -> String {
        certificates.update(served, now: Int(time(nil)))
        return registry.emitToString()
    }
}
