/// Durations as operators write them: `500ms`, `30s`, `30m`, `1h`, `1d`; a bare number is seconds
/// (so stunnel's `TIMEOUTidle = 43200` carries over unchanged). Values are seconds as Double.
public enum DurationParser {
    private static let units: [(suffix: String, seconds: Double)] = [
        ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
    ]

    public static func parse(_ raw: String) throws(OptionValueError) -> Double {
        let text = raw.trimmingSpaces.lowercased()
        var number = Substring(text)
        var scale = 1.0
        // "ms" is tried before "s" and "m" so 500ms is not read as 500m + s.
        for unit in units.sorted(by: { $0.suffix.count > $1.suffix.count }) where number.hasSuffix(unit.suffix) {
            number = number.dropLast(unit.suffix.count)
            scale = unit.seconds
            break
        }
        guard !number.isEmpty,
              number.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "." }),
              number.filter({ $0 == "." }).count <= 1,
              let value = Double(number), value.isFinite else {
            throw OptionValueError("expected a duration like 500ms, 30s, 30m, 1h (bare number = seconds), got '\(raw.trimmingSpaces)'")
        }
        return value * scale
    }

    /// The shortest exact text: 1800 -> "30m", 0.5 -> "500ms"; parse(format(x)) == x for whole milliseconds.
    public static func format(_ seconds: Double) -> String {
        for unit in units.reversed() where unit.seconds >= 1 {
            let count = seconds / unit.seconds
            if count >= 1, count == count.rounded() { return "\(Int(count))\(unit.suffix)" }
        }
        if seconds == 0 { return "0s" }
        let millis = seconds * 1000
        if millis == millis.rounded() { return "\(Int(millis))ms" }
        return "\(seconds)s"
    }
}
