/// The Prometheus text format as a scraper reads it: families (HELP, TYPE) and samples by series.
struct ExpositionText {
    var help: [String: String] = [:]
    var types: [String: String] = [:]
    /// `name{label="value",...}` exactly as printed → value.
    var samples: [String: Double] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n").map(String.init) {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# HELP "), parts.count >= 3 {
                help[parts[2]] = parts.count == 4 ? parts[3] : ""
            } else if line.hasPrefix("# TYPE "), parts.count == 4 {
                types[parts[2]] = parts[3]
            } else if !line.hasPrefix("#"), let space = line.lastIndex(of: " ") {
                samples[String(line[..<space])] = Double(line[line.index(after: space)...])
            }
        }
    }

    /// The family a sample belongs to (a histogram's `_bucket`, `_sum` and `_count` belong to the histogram).
    var sampleFamilies: Set<String> {
        Set(samples.keys.map { series in
            let name = String(series.prefix { $0 != "{" })
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                let base = String(name.dropLast(suffix.count))
                if types[base] == "histogram" { return base }
            }
            return name
        })
    }

    func value(_ name: String, _ labels: String) -> Double? { samples["\(name){\(labels)}"] }
}
