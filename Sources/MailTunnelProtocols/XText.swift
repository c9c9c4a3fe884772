/// RFC 3461 section 4 "xtext": printable US-ASCII except `+` and `=` goes as is, every other octet
/// as `+` and two uppercase hex digits. XCLIENT attribute values travel in this form.
public enum XText {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            if byte >= 33 && byte <= 126 && byte != UInt8(ascii: "+") && byte != UInt8(ascii: "=") {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "+"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func encode(_ text: String) -> String { encode(text.utf8) }

    /// nil for anything RFC 3461 does not allow: a `+` without two uppercase hex digits, or an octet outside 33–126
    /// other than via `+XX`, or a bare `=`.
    public static func decode(_ text: String) -> [UInt8]? {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            if byte == UInt8(ascii: "+") {
                guard i + 2 < bytes.count, let high = upperHex(bytes[i + 1]), let low = upperHex(bytes[i + 2]) else { return nil }
                out.append(high << 4 | low)
                i += 3
            } else {
                guard byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=") else { return nil }
                out.append(byte)
                i += 1
            }
        }
        return out
    }

    /// RFC 3461's hexchar is uppercase only.
    private static func upperHex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
