import Synchronization
import Testing
@testable import MailTunnel

@Suite struct ListenerStatsTests {
    @Test func rendersPrometheusTextPerListener() {
        let imaps = ListenerStats(name: "imaps")
        imaps.accepted.add(3, ordering: .relaxed)
        imaps.active.add(3, ordering: .relaxed)
        imaps.connectionEnded(bytesIn: 10, bytesOut: 20, outcome: .handshakeFailed, authFailures: 0)
        imaps.connectionEnded(bytesIn: 5, bytesOut: 7, outcome: .backendUnavailable, authFailures: 2)
        let text = ListenerStats.render([imaps, ListenerStats(name: "a\"b")])
        #expect(text.contains("# TYPE mailtunnel_connections_active gauge\n"))
        #expect(text.contains("mailtunnel_connections_accepted_total{listener=\"imaps\"} 3\n"))
        #expect(text.contains("mailtunnel_connections_active{listener=\"imaps\"} 1\n"))
        #expect(text.contains("mailtunnel_bytes_in_total{listener=\"imaps\"} 15\n"))
        #expect(text.contains("mailtunnel_bytes_out_total{listener=\"imaps\"} 27\n"))
        #expect(text.contains("mailtunnel_handshake_failures_total{listener=\"imaps\"} 1\n"))
        #expect(text.contains("mailtunnel_backend_unavailable_total{listener=\"imaps\"} 1\n"))
        #expect(text.contains("mailtunnel_auth_failures_total{listener=\"imaps\"} 2\n"))
        #expect(text.contains("mailtunnel_connections_active{listener=\"a\\\"b\"} 0\n"))
    }
}
