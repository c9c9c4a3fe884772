import Logging

/// `message key=value key="value with spaces"`: one event per line, easy to grep and for fail2ban to parse.
///
/// Values often carry client bytes (certificate names, user names, reasons quoting a client), so nothing in a
/// value may end the line or fake a field: control characters are escaped (`\r`, `\n`, `\t`, `\x00`, `\x7f`,
/// C1 as `\x85`, line/paragraph separators as `\u2028`), and a value holding a space, `=`, a quote, a
/// backslash or an escape is written in double quotes with `"` and `\` escaped.
///
/// Call sites log a fixed message with swift-log metadata (`logger.info("connection ended", metadata: [...])`);
/// the handlers render it here once, with the fields in `LogFieldOrder`'s order.
enum LogLine {
    /// The whole line after the timestamp and level: the handler's own metadata merged with the event's
    /// (the event's value wins).
    static func render(_ event: LogEvent, handlerMetadata: Logger.Metadata) -> String {
        render(event.message.description, metadata: handlerMetadata.merging(event.metadata ?? [:]) { $1 })
    }

    static func render(_ message: String, metadata: Logger.Metadata) -> String {
        format(message, LogFieldOrder.sorted(metadata).map { ($0.key, "\($0.value)") })
    }

    static func format(_ message: String, _ fields: [(String, String)]) -> String {
        var line = escapeControls(message)
        for (key, value) in fields {
            line += " \(key)=\(quote(value))"
        }
        return line
    }

    static func quote(_ value: String) -> String {
        // Scalars, not Characters: "\r\n" is one Character, and so is a quote followed by a combining mark.
        var escaped = ""
        var needsQuotes = value.isEmpty
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""; needsQuotes = true
            case "\\": escaped += "\\\\"; needsQuotes = true
            case " ", "=": escaped.unicodeScalars.append(scalar); needsQuotes = true
            default:
                if let control = controlEscape(scalar) {
                    escaped += control
                    needsQuotes = true
                } else {
                    escaped.unicodeScalars.append(scalar)
                }
            }
        }
        return needsQuotes ? "\"\(escaped)\"" : escaped
    }

    /// Escapes only control characters (quotes and backslashes stay): for a log message, which is not a value
    /// and may already hold formatted fields; applying it twice changes nothing.
    static func escapeControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { controlEscape($0) != nil }) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            if let control = controlEscape(scalar) { escaped += control } else { escaped.unicodeScalars.append(scalar) }
        }
        return escaped
    }

    private static func controlEscape(_ scalar: Unicode.Scalar) -> String? {
        switch scalar.value {
        case 0x0a: return "\\n"
        case 0x0d: return "\\r"
        case 0x09: return "\\t"
        case 0x00..<0x20, 0x7f..<0xa0: return "\\x" + hex(scalar.value, width: 2)
        case 0x2028, 0x2029: return "\\u" + hex(scalar.value, width: 4)
        default: return nil
        }
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
