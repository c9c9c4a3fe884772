/// What a backend offered in its latest EHLO reply, as far as mailtunnel must know it: CHUNKING decides whether
/// the bytes after a `BDAT` line are message data to the backend or commands.
public struct SMTPExtensions: Equatable, Sendable {
    public var chunking: Bool

    public init(chunking: Bool = false) { self.chunking = chunking }

    /// Nothing offered (no EHLO yet, HELO, or a refused EHLO).
    public static let none = SMTPExtensions()

    /// From a complete reply to EHLO; anything but 250 offers nothing.
    public init(ehloReply reply: SMTPReply) {
        self.init(code: reply.code, texts: reply.lines.dropFirst().map { Array($0.utf8)[...] })
    }

    /// From a complete reply to EHLO as received.
    public init(ehloReply reply: SMTPRawReply) {
        self.init(code: reply.code, texts: reply.lines.dropFirst().map { $0.content.dropFirst(4) })
    }

    /// `texts`: the reply's lines after the first (which names the host), without the `ddd-` prefix.
    private init(code: Int, texts: [ArraySlice<UInt8>]) {
        chunking = code == 250 && texts.contains { SMTPRawReply.keyword(of: $0).asciiEqualsUppercase("CHUNKING") }
    }
}
