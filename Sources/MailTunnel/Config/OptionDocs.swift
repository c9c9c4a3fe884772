/// Help text and the README table, generated from `OptionTable` so they never drift from the parser.
public enum OptionDocs {
    public static var usage: String {
        """
        usage: mailtunnel --accept [HOST:]PORT --connect [HOST:]PORT [options]
               mailtunnel --config FILE [--config FILE ...] [options]
               mailtunnel --stunnel-config FILE [options]
               mailtunnel --check (--config FILE ... | --stunnel-config FILE | flags)

        Options given as flags override the same key in every listener read from a file.
        Each flag also works as `--key=value`.
        """
    }

    public static var helpText: String {
        var lines = [usage, "", "options:"]
        let width = OptionTable.options.map { $0.flag.count + $0.syntax.count + 1 }.max() ?? 0
        for option in OptionTable.options {
            let head = "\(option.flag) \(option.syntax)"
            let pad = String(repeating: " ", count: width - head.count + 2)
            var tail = "\(option.help) (default: \(option.defaultText))"
            if option.repeatable { tail += " [repeatable]" }
            lines.append("  \(head)\(pad)\(tail)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static var markdownTable: String {
        var lines = ["| key | values (default) | stunnel | meaning |", "|---|---|---|---|"]
        for option in OptionTable.options {
            let values = "\(option.syntax)\(option.repeatable ? ", repeatable" : "") (\(option.defaultText))"
            let stunnel = option.stunnel.map { "`\($0.text)`" } ?? ""
            lines.append("| \(option.name) | \(values.replacingPipes) | \(stunnel.replacingPipes) | \(option.help.replacingPipes) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension String {
    /// A literal `|` would split a markdown cell.
    fileprivate var replacingPipes: String { split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|") }
}
