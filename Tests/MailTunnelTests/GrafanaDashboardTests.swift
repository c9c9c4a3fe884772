import Foundation
import Testing
@testable import MailTunnel

/// Config/grafana/mailtunnel.json against the exposition: a renamed metric must not leave a panel empty.
@Suite struct GrafanaDashboardTests {
    private static func dashboard() throws -> Any {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/grafana/mailtunnel.json")
        return try JSONSerialization.jsonObject(with: Data(contentsOf: url))
    }

    /// Every PromQL text in the dashboard: panel targets and the template variable's query.
    private static func queries(in node: Any) -> [String] {
        if let object = node as? [String: Any] {
            return object.flatMap { key, value -> [String] in
                if ["expr", "query", "definition"].contains(key), let text = value as? String { return [text] }
                return queries(in: value)
            }
        }
        if let array = node as? [Any] { return array.flatMap(queries(in:)) }
        return []
    }

    /// What a fully used daemon exposes: one listener with every counter, the histogram and a certificate.
    private static func exposedFamilies() -> ExpositionText {
        let exposition = MetricsExposition()
        _ = ListenerStats(name: "imaps", factory: exposition.factory)
        return ExpositionText(exposition.text(serving: [.init(listener: "imaps", path: "/etc/mail.pem", subject: "CN=mail", notAfter: 0)]))
    }

    @Test func everyMetricTheDashboardQueriesIsExposed() throws {
        let exposed = Self.exposedFamilies()
        let queries = Self.queries(in: try Self.dashboard())
        #expect(queries.count >= 10)
        let names = queries.flatMap { $0.matches(of: /mailtunnel_[a-z_]+/).map { String($0.output) } }
        #expect(!names.isEmpty)
        for name in Set(names) {
            #expect(exposed.samples.keys.contains { $0.hasPrefix(name + "{") }, "\(name) is queried but not exposed")
        }
        // And the other way: no exposed family is missing from the dashboard.
        let used = Set(names.map { name in
            name.hasSuffix("_bucket") ? String(name.dropLast("_bucket".count)) : name
        })
        #expect(exposed.sampleFamilies.subtracting(used).isEmpty, "not on the dashboard: \(exposed.sampleFamilies.subtracting(used))")
    }

    @Test func panelsHaveTitlesAndPrometheusAsTheirSource() throws {
        let panels = try #require((try Self.dashboard() as? [String: Any])?["panels"] as? [[String: Any]])
        #expect(panels.count >= 9)
        for panel in panels {
            #expect(!((panel["title"] as? String) ?? "").isEmpty)
            #expect((panel["datasource"] as? [String: Any])?["type"] as? String == "prometheus")
        }
    }
}
