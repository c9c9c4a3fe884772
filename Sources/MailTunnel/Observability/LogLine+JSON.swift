import Logging

/// `log-format = json`: `{"time":…,"level":…,"message":…,"listener":…}` with the text format's fields in the same
/// order, for Loki and ELK. Values are JSON strings, escaped per RFC 8259, so no value can end the line or add a key.
extension LogLine {
    static func renderJSON(_ event: LogEvent, handlerMetadata: Logger.Metadata, time: String) -> String {
        let metadata = handlerMetadata.merging(event.metadata ?? [:]) { $1 }
        var fields: [(String, String)] = [("time", time), ("level", event.level.rawValue),
                                          ("message", event.message.description)]
        for (key, value) in LogFieldOrder.sorted(metadata) where !["time", "level", "message"].contains(key) {
            fields.append((key, "\(value)"))
        }
        return "{" + fields.map { jsonString($0.0) + ":" + jsonString($0.1) }.joined(separator: ",") + "}"
    }

    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // Controls, DEL, C1 and the line separators some JavaScript readers split on.
                if scalar.value < 0x20 || (0x7f..<0xa0).contains(scalar.value) || scalar.value == 0x2028
                    || scalar.value == 0x2029 {
                    let digits = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
