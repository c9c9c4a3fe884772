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

/// Incremental reader of SMTP replies from a backend, decoded to text (`SMTPRawReplyReader` keeps the bytes).
public struct SMTPReplyReader: Sendable {
    public enum Next: Equatable, Sendable {
        case reply(SMTPReply)
        case needMore
        case invalid(String)
    }

    private var raw: SMTPRawReplyReader

    /// RFC 5321 allows 512 per reply line; backends in the wild stay under it, so a little headroom suffices.
    public var maxLineLength: Int { raw.maxLineLength }
    /// Guard against an endless multi-line reply.
    public var maxLines: Int { raw.maxLines }

    public init(maxLineLength: Int = 1024, maxLines: Int = 100) {
        raw = SMTPRawReplyReader(maxLineLength: maxLineLength, maxLines: maxLines)
    }

    public mutating func append(_ bytes: ArraySlice<UInt8>) { raw.append(bytes) }

    public var hasBufferedBytes: Bool { raw.hasBufferedBytes }

    public mutating func next() -> Next {
        switch raw.next() {
        case .needMore: return .needMore
        case .invalid(let reason): return .invalid(reason)
        case .reply(let reply): return .reply(SMTPReply(reply))
        }
    }
}

extension SMTPReply {
    /// The text of a reply as received; a line's text is what follows its `ddd-` / `ddd `.
    init(_ raw: SMTPRawReply) {
        self.init(code: raw.code, lines: raw.lines.map { String(decoding: $0.content.dropFirst(4), as: UTF8.self) })
    }
}

/// One complete reply exactly as the backend sent it, so that it can be passed on byte for byte.
public struct SMTPRawReply: Equatable, Sendable {
    public var code: Int
    /// Every line with its own terminator (CRLF or bare LF).
    public var lines: [LineReader.Line]

    public init(code: Int, lines: [LineReader.Line]) { self.code = code; self.lines = lines }

    public var bytes: [UInt8] { lines.flatMap(\.raw) }

    /// The EHLO keyword a reply line's text (after `ddd-`) offers: up to the first blank or `=`.
    static func keyword(of text: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        text.prefix { $0 > 0x20 && $0 != UInt8(ascii: "=") }
    }

    /// The reply without the lines after the first whose keyword is one of `keywords` (uppercase). If the last line
    /// goes, the new last line gets the `ddd ` separator, so the reply stays well-formed; every kept byte is as
    /// received.
    public func removingExtensions(_ keywords: [String]) -> [UInt8] {
        guard lines.count > 1 else { return bytes }
        var kept = [lines[0]]
        var lastDropped = false
        for line in lines.dropFirst() {
            let word = Self.keyword(of: line.content.dropFirst(4))
            lastDropped = keywords.contains(where: { word.asciiEqualsUppercase($0) })
            if !lastDropped { kept.append(line) }
        }
        if lastDropped, kept[kept.count - 1].content.count > 3 {
            kept[kept.count - 1].raw[3] = UInt8(ascii: " ")
        }
        return kept.flatMap(\.raw)
    }
}

/// Incremental reader of SMTP replies that keeps the bytes as received.
public struct SMTPRawReplyReader: Sendable {
    public enum Next: Equatable, Sendable {
        case reply(SMTPRawReply)
        case needMore
        case invalid(String)
    }

    public let maxLines: Int
    private var reader: LineReader
    private var pending: [LineReader.Line] = []
    private var pendingCode: Int?

    public var maxLineLength: Int { reader.maxLineLength }

    public init(maxLineLength: Int = 1024, maxLines: Int = 100) {
        reader = LineReader(maxLineLength: maxLineLength)
        self.maxLines = maxLines
    }

    public mutating func append(_ bytes: ArraySlice<UInt8>) { reader.append(bytes) }

    public var hasBufferedBytes: Bool { reader.bufferedCount > 0 || !pending.isEmpty }

    public mutating func next() -> Next {
        while true {
            switch reader.next() {
            case .needMoreData: return .needMore
            case .overlong: return .invalid("reply line longer than \(reader.maxLineLength) bytes")
            case .line(let line):
                let content = line.content
                let digits = content.prefix(3)
                guard digits.count == 3, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                      content.count == 3 || content[3] == UInt8(ascii: " ") || content[3] == UInt8(ascii: "-") else {
                    return .invalid("malformed reply line")
                }
                let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
                if let pendingCode, pendingCode != code { return .invalid("reply code changed within a multi-line reply") }
                pendingCode = code
                pending.append(line)
                if content.count > 3 && content[3] == UInt8(ascii: "-") {
                    guard pending.count < maxLines else { return .invalid("reply longer than \(maxLines) lines") }
                    continue
                }
                defer { pending = []; pendingCode = nil }
                return .reply(SMTPRawReply(code: code, lines: pending))
            }
        }
    }
}
