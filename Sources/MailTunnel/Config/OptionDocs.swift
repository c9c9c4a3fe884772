/// Help text and the README table, generated from `OptionTable` so they never drift from the parser.
public enum OptionDocs {
    public static var usage: String {
        """
        usage: mailtunnel --accept [HOST:]PORT --connect [HOST:]PORT [options]
               mailtunnel --config FILE [--config FILE ...] [options]
               mailtunnel --stunnel-config FILE [options]
               mailtunnel --check (--config FILE ... | --stunnel-config FILE | flags)

        Options given as flags override the same key in every listener read
        from a file. Each flag also works as `--key=value`.
        """
    }

    /// Each option as its flag line and an indented, pre-wrapped description, so no line passes 80 columns and
    /// `--help` reads the same on any terminal (ArgumentParser would otherwise re-wrap long lines mid-column).
    public static var helpText: String {
        var lines = [usage, "", "options:"]
        for option in OptionTable.options {
            lines.append("  \(option.flag) \(option.syntax)")
            var text = "\(option.help) (default: \(option.defaultText))"
            if option.repeatable { text += " [repeatable]" }
            lines += wrap(text, width: 70).map { "      " + $0 }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty && current.count + 1 + word.count > width {
                lines.append(current)
                current = ""
            }
            current += current.isEmpty ? String(word) : " " + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
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
