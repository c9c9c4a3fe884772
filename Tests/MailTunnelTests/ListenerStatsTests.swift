#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import Testing
@testable import MailTunnel

/// The exposition as Prometheus reads it: swift-metrics counters from `ListenerStats` rendered by swift-prometheus.
@Suite struct ListenerStatsTests {
    @Test func countersCarryTheListenerLabelAndTheirType() {
        let exposition = MetricsExposition()
        let imaps = ListenerStats(name: "imaps", factory: exposition.factory)
        _ = ListenerStats(name: "a\"b", factory: exposition.factory)
        for _ in 0..<3 {
            imaps.accepted.increment()
            imaps.active.increment()
        }
        imaps.relayed(bytesIn: 10, bytesOut: 20)
        imaps.connectionEnded(outcome: .handshakeFailed, authFailures: 0)
        imaps.relayed(bytesIn: 5, bytesOut: 7)
        imaps.connectionEnded(outcome: .backendUnavailable, authFailures: 2)
        let text = ExpositionText(exposition.text(serving: []))
        let listener = #"listener="imaps""#
        #expect(text.value("mailtunnel_connections_accepted_total", listener) == 3)
        #expect(text.value("mailtunnel_connections_active", listener) == 1)
        #expect(text.value("mailtunnel_bytes_in_total", listener) == 15)
        #expect(text.value("mailtunnel_bytes_out_total", listener) == 27)
        #expect(text.value("mailtunnel_handshake_failures_total", listener) == 1)
        #expect(text.value("mailtunnel_backend_unavailable_total", listener) == 1)
        #expect(text.value("mailtunnel_auth_failures_total", listener) == 2)
        #expect(text.value("mailtunnel_connections_refused_total", listener) == 0)
        #expect(text.value("mailtunnel_connections_active", #"listener="a\"b""#) == 0)
        #expect(text.types["mailtunnel_connections_active"] == "gauge")
        for name in MetricCatalog.help.keys where name.hasSuffix("_total") {
            #expect(text.types[name] == "counter", "\(name)")
        }
        #expect(text.types["mailtunnel_tls_handshake_duration_seconds"] == "histogram")
    }

    @Test func everyFamilyHasTheHelpOfTheCatalog() {
        let exposition = MetricsExposition()
        _ = ListenerStats(name: "imaps", factory: exposition.factory)
        let text = ExpositionText(exposition.text(serving: [.init(listener: "imaps", path: "/etc/x.pem", subject: "CN=x", notAfter: 0)]))
        #expect(Set(text.types.keys) == Set(MetricCatalog.help.keys))
        for (name, help) in MetricCatalog.help {
            #expect(text.help[name] == help, "\(name)")
        }
    }

    @Test func handshakeHistogramCountsAndBucketsFromOneMillisecondToFiveSeconds() {
        let exposition = MetricsExposition()
        let stats = ListenerStats(name: "imaps", factory: exposition.factory)
        stats.handshakeCompleted(after: .microseconds(700))
        stats.handshakeCompleted(after: .milliseconds(30))
        stats.handshakeCompleted(after: .seconds(7))
        let text = ExpositionText(exposition.text(serving: []))
        let name = "mailtunnel_tls_handshake_duration_seconds"
        #expect(text.value("\(name)_count", #"listener="imaps""#) == 3)
        #expect(text.value("\(name)_bucket", #"listener="imaps",le="0.001""#) == 1)
        #expect(text.value("\(name)_bucket", #"listener="imaps",le="0.05""#) == 2)
        #expect(text.value("\(name)_bucket", #"listener="imaps",le="5.0""#) == 2)
        #expect(text.value("\(name)_bucket", #"listener="imaps",le="+Inf""#) == 3)
        #expect(abs((text.value("\(name)_sum", #"listener="imaps""#) ?? 0) - 7.0307) < 1e-9)
    }

    @Test func aListenerKeepsItsCountsWhenARuntimeIsRebuiltUnderItsName() {
        let exposition = MetricsExposition()
        ListenerStats(name: "imaps", factory: exposition.factory).accepted.increment(by: 4)
        ListenerStats(name: "imaps", factory: exposition.factory).accepted.increment()
        let text = ExpositionText(exposition.text(serving: []))
        #expect(text.value("mailtunnel_connections_accepted_total", #"listener="imaps""#) == 5)
    }

    @Test func certificateExpiryCountsDownAndFollowsTheServedCertificate() {
        let exposition = MetricsExposition()
        let name = "mailtunnel_certificate_expiry_seconds"
        var text = ExpositionText(exposition.text(serving: [
            .init(listener: "imaps", path: "/etc/mail.pem", subject: "CN=old", notAfter: 1_000), .init(listener: "pop3s", path: "/etc/p.pem", subject: "CN=p", notAfter: 0),
        ]))
        let now = Double(Int(time(nil)))
        #expect(abs((text.value(name, #"listener="imaps",path="/etc/mail.pem",subject="CN=old""#) ?? 0) - (1_000 - now)) <= 2)
        // A reload serves a new certificate on imaps and removes pop3s: only the current series remain.
        text = ExpositionText(exposition.text(serving: [.init(listener: "imaps", path: "/etc/mail.pem", subject: "CN=new", notAfter: Int(now) + 86_400)]))
        #expect(text.samples.keys.filter { $0.hasPrefix(name) } == ["\(name){listener=\"imaps\",path=\"/etc/mail.pem\",subject=\"CN=new\"}"])
        #expect(abs((text.value(name, #"listener="imaps",path="/etc/mail.pem",subject="CN=new""#) ?? 0) - 86_400) <= 2)
    }
}
