import Foundation
import Synchronization

/// Counters for one listener, kept across reloads (a reload replaces the runtime, not its history).
/// Updated once per connection end from the event loops, read by the metrics endpoint.
final class ListenerStats: Sendable {
    let name: String
    let accepted = Atomic<Int>(0)
    let active = Atomic<Int>(0)
    let bytesIn = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)
    let handshakeFailures = Atomic<Int>(0)
    let backendUnavailable = Atomic<Int>(0)
    let authFailures = Atomic<Int>(0)
    let refused = Atomic<Int>(0)

    init(name: String) { self.name = name }

    func connectionEnded(bytesIn: Int, bytesOut: Int, outcome: ConnectionOutcome, authFailures: Int) {
        active.subtract(1, ordering: .relaxed)
        self.bytesIn.add(bytesIn, ordering: .relaxed)
        self.bytesOut.add(bytesOut, ordering: .relaxed)
        if authFailures > 0 { self.authFailures.add(authFailures, ordering: .relaxed) }
        switch outcome {
        case .ended: break
        case .handshakeFailed: handshakeFailures.add(1, ordering: .relaxed)
        case .backendUnavailable: backendUnavailable.add(1, ordering: .relaxed)
        case .refused: refused.add(1, ordering: .relaxed)
        }
    }

    /// Prometheus text exposition format, version 0.0.4.
    static func render(_ all: [ListenerStats]) -> String {
        let families: [(String, String, String, (ListenerStats) -> Int)] = [
            ("mailtunnel_connections_accepted_total", "counter", "Client connections accepted.", { $0.accepted.load(ordering: .relaxed) }),
            ("mailtunnel_connections_active", "gauge", "Client connections open now.", { $0.active.load(ordering: .relaxed) }),
            ("mailtunnel_bytes_in_total", "counter", "Bytes relayed from clients to backends.", { $0.bytesIn.load(ordering: .relaxed) }),
            ("mailtunnel_bytes_out_total", "counter", "Bytes relayed from backends to clients.", { $0.bytesOut.load(ordering: .relaxed) }),
            ("mailtunnel_handshake_failures_total", "counter", "TLS handshakes that failed or timed out.", { $0.handshakeFailures.load(ordering: .relaxed) }),
            ("mailtunnel_backend_unavailable_total", "counter", "Connections for which no backend answered.", { $0.backendUnavailable.load(ordering: .relaxed) }),
            ("mailtunnel_auth_failures_total", "counter", "Failed SMTP AUTH attempts.", { $0.authFailures.load(ordering: .relaxed) }),
            ("mailtunnel_connections_refused_total", "counter", "Connections refused by a connection or auth-failure limit.", { $0.refused.load(ordering: .relaxed) }),
        ]
        var text = ""
        for (metric, type, help, value) in families {
            text += "# HELP \(metric) \(help)\n# TYPE \(metric) \(type)\n"
            for stats in all {
                text += "\(metric){listener=\"\(escape(stats.name))\"} \(value(stats))\n"
            }
        }
        return text
    }

    static func escape(_ label: String) -> String {
        label.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
