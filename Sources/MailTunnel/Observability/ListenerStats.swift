import CoreMetrics

/// One listener's metrics, made through swift-metrics, each with the `listener` label. Kept by listener name
/// across reloads (a reload replaces the runtime, not its history); updated from the event loops (bytes in
/// batches, see Connection+ByteReport), read by the metrics endpoint through the bootstrapped backend.
final class ListenerStats: Sendable {
    let name: String
    let accepted: Counter
    let active: Meter
    let bytesIn: Counter
    let bytesOut: Counter
    let handshakeFailures: Counter
    let backendUnavailable: Counter
    let authFailures: Counter
    let refused: Counter
    let handshakeDuration: CoreMetrics.Timer

    /// `factory`: the one `MetricsSystem` was bootstrapped with (the daemon's), or a test's own.
    init(name: String, factory: any MetricsFactory = MetricsSystem.factory) {
        self.name = name
        let labels = [("listener", name)]
        func counter(_ label: String) -> Counter { Counter(label: label, dimensions: labels, factory: factory) }
        accepted = counter(MetricCatalog.connectionsAccepted)
        active = Meter(label: MetricCatalog.connectionsActive, dimensions: labels, factory: factory)
        bytesIn = counter(MetricCatalog.bytesIn)
        bytesOut = counter(MetricCatalog.bytesOut)
        handshakeFailures = counter(MetricCatalog.handshakeFailures)
        backendUnavailable = counter(MetricCatalog.backendUnavailable)
        authFailures = counter(MetricCatalog.authFailures)
        refused = counter(MetricCatalog.connectionsRefused)
        handshakeDuration = CoreMetrics.Timer(label: MetricCatalog.handshakeDuration, dimensions: labels, factory: factory)
    }

    func relayed(bytesIn: Int, bytesOut: Int) {
        if bytesIn > 0 { self.bytesIn.increment(by: bytesIn) }
        if bytesOut > 0 { self.bytesOut.increment(by: bytesOut) }
    }

    func handshakeCompleted(after duration: Duration) {
        let (seconds, attoseconds) = duration.components
        handshakeDuration.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    func connectionEnded(outcome: ConnectionOutcome, authFailures: Int) {
        active.decrement()
        if authFailures > 0 { self.authFailures.increment(by: authFailures) }
        switch outcome {
        case .ended: break
        case .handshakeFailed: handshakeFailures.increment()
        case .backendUnavailable: backendUnavailable.increment()
        case .refused: refused.increment()
        }
    }
}
