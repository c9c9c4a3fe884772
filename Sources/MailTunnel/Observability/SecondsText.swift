/// A time span in log lines: seconds with milliseconds, `61.500s`.
func formatSeconds(_ value: Double) -> String {
    let millis = Int((value * 1000).rounded())
    let fraction = String(millis % 1000)
    return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
}

func formatSeconds(_ value: Duration) -> String {
    let (seconds, attoseconds) = value.components
    return formatSeconds(Double(seconds) + Double(attoseconds) / 1e18)
}
