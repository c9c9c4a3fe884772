/// One complete SMTP reply, possibly multi-line (RFC 5321 4.2).
public struct SMTPReply: Equatable, Sendable {
    public var code: Int
    /// Text of each line after the `ddd-` / `ddd ` prefix.
    public var lines: [String]

    public init(code: Int, lines: [String]) { self.code = code; self.lines = lines }

    /// Wire form with CRLF line ends, `ddd-` on all but the last line.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        for (index, line) in lines.enumerated() {
            let separator = index == lines.count - 1 ? " " : "-"
            out += Array("\(code)\(separator)\(line)\r\n".utf8)
        }
        return out
    }

    public var isPositiveCompletion: Bool { (200..<300).contains(code) }
}

/// Incremental reader of SMTP replies from a backend.
public struct SMTPReplyReader {
    public enum Next: Equatable, Sendable {
        case reply(SMTPReply)
        case needMore
        case invalid(String)
    }

    /// RFC 5321 allows 512 per reply line; backends in the wild stay under it, so a little headroom suffices.
    public let maxLineLength: Int
    /// Guard against an endless multi-line reply.
    public let maxLines: Int
    private var buffer = LineBuffer()
    private var pending: [String] = []
    private var pendingCode: Int? = nil

    public init(maxLineLength: Int = 1024, maxLines: Int = 100) {
        self.maxLineLength = maxLineLength
        self.maxLines = maxLines
    }

    public mutating func append(_ bytes: ArraySlice<UInt8>) { buffer.append(bytes) }

    public var hasBufferedBytes: Bool { !buffer.isEmpty || !pending.isEmpty }

    public mutating func next() -> Next {
        while true {
            switch buffer.next(limit: maxLineLength) {
            case .needMore: return .needMore
            case .tooLong: return .invalid("reply line longer than \(maxLineLength) bytes")
            case .line(let line):
                guard line.count >= 3, line[0..<3].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      line.count == 3 || line[3] == UInt8(ascii: " ") || line[3] == UInt8(ascii: "-") else {
                    return .invalid("malformed reply line")
                }
                let code = Int(String(decoding: line[0..<3], as: UTF8.self))!
                if let pendingCode, pendingCode != code { return .invalid("reply code changed within a multi-line reply") }
                pendingCode = code
                pending.append(line.count > 4 ? String(decoding: line[4...], as: UTF8.self) : "")
                if line.count > 3 && line[3] == UInt8(ascii: "-") {
                    guard pending.count < maxLines else { return .invalid("reply longer than \(maxLines) lines") }
                    continue
                }
                defer { pending = []; pendingCode = nil }
                return .reply(SMTPReply(code: code, lines: pending))
            }
        }
    }
}
