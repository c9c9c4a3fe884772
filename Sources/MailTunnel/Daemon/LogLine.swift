/// `message key=value key="value with spaces"`: one event per line, easy to grep and for fail2ban to parse.
enum LogLine {
    static func format(_ message: String, _ fields: [(String, String)]) -> String {
        var line = message
        for (key, value) in fields {
            line += " \(key)=\(quote(value))"
        }
        return line
    }

    static func quote(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }
        guard needsQuotes else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n", "\r": escaped += " "
            default: escaped.append(character)
            }
        }
        return "\"\(escaped)\""
    }
}
