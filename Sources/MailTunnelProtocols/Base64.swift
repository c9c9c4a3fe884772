/// Strict RFC 4648 base64 for SASL exchanges (RFC 4954 requires it; no Foundation here).
/// Strict because a lenient decoder would let garbage reach libsasl2 as credentials.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i < input.count {
            let b0 = input[i], b1 = i + 1 < input.count ? input[i + 1] : 0, b2 = i + 2 < input.count ? input[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(i + 1 < input.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(i + 2 < input.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil unless the text is canonical padded base64 (length a multiple of 4, no stray characters,
    /// unused bits of the last group zero).
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(text)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            let last = i + 4 == input.count
            let padding = last ? (input[i + 3] == UInt8(ascii: "=") ? (input[i + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
            var values: [UInt8] = []
            for j in 0..<(4 - padding) {
                guard let v = value(input[i + j]) else { return nil }
                values.append(v)
            }
            switch padding {
            case 0:
                out += [values[0] << 2 | values[1] >> 4, (values[1] & 0x0F) << 4 | values[2] >> 2, (values[2] & 0x03) << 6 | values[3]]
            case 1:
                guard values[2] & 0x03 == 0 else { return nil }
                out += [values[0] << 2 | values[1] >> 4, (values[1] & 0x0F) << 4 | values[2] >> 2]
            default:
                guard values[1] & 0x0F == 0 else { return nil }
                out.append(values[0] << 2 | values[1] >> 4)
            }
            i += 4
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
