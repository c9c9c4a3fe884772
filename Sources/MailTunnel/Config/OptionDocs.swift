/// `--help` and the README table, generated from `OptionTable` and `CommandFlag` so they never drift from the parser.
public enum OptionDocs {
    static let abstract =
        "mailtunnel: TLS for mail servers that lack it: implicit TLS, STARTTLS, client certificates, an SMTP auth gate."

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

    static let examples = [
        "mailtunnel --accept 993 --connect 143",
        "mailtunnel --accept 995 --connect 110 --cert mail.pem --key mail.key",
        "mailtunnel --accept 587 --connect 25 --starttls yes --auth sasl --xclient yes",
        "mailtunnel --accept [::]:993 --connect 10.0.0.5:143 --connect 10.0.0.6:143",
        "mailtunnel --config /etc/mailtunnel/imaps.conf",
        "mailtunnel --check --stunnel-config /etc/stunnel/stunnel.conf",
    ]

    /// Each flag as its line and an indented, pre-wrapped description, so `--help` reads the same on any terminal.
    /// (A default that is one long word, the cipher list, keeps its line whole.)
    public static var helpText: String {
        var lines = [abstract, "", usage, "", "commands:"]
        for command in CommandFlag.allCases where !command.isHidden {
            lines.append("  --\(command.rawValue)" + (command.syntax.map { " \($0)" } ?? ""))
            lines += wrap(command.help, width: 70).map { "      " + $0 }
        }
        lines += ["", "examples:"] + examples.map { "  " + $0 }
        lines += ["", "options:"]
        for option in OptionTable.options {
            lines.append("  \(option.flag) \(option.syntax)")
            var text = "\(option.help) (\(option.isRequired ? "required" : "default: \(option.defaultText)"))"
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
