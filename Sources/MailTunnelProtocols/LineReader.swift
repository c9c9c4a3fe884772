/// Splits a byte stream into protocol lines with a hard length limit.
///
/// Design choices:
/// - A line ends at LF. A CR directly before that LF belongs to the terminator; a CR anywhere else is an
///   ordinary content byte. Splitting on a bare CR would let `A\rB\r\n` mean two commands to us and one to the
///   backend (or the reverse), which is exactly the kind of disagreement smuggling attacks live on.
/// - Bare LF is accepted because real clients (scripts, `nc`) send it and refusing it gains nothing; the raw line
///   including its original terminator is kept so a forwarded command reaches the backend byte for byte.
/// - The limit counts the whole line including its terminator (RFC 5321 counts the CRLF). A partial line that
///   already reached the limit can only grow past it, so `.overlong` is reported without waiting for the LF:
///   memory stays bounded by the limit plus one read.
/// - Consumed bytes are tracked by an offset and compacted on the next `append`, so many short pipelined lines
///   in one read cost linear time, and a line arriving byte by byte is scanned once, not once per byte.
public struct LineReader: Sendable {
    /// One complete line as received.
    public struct Line: Equatable, Sendable {
        /// The line exactly as received, terminator included.
        public var raw: [UInt8]
        /// 2 for CRLF, 1 for a bare LF.
        public var terminatorLength: Int

        public init(raw: [UInt8], terminatorLength: Int) {
            self.raw = raw
            self.terminatorLength = terminatorLength
        }

        /// The line without its terminator.
        public var content: ArraySlice<UInt8> { raw.dropLast(terminatorLength) }
    }

    public enum Next: Equatable, Sendable {
        case line(Line)
        /// No complete line is buffered yet.
        case needMoreData
        /// The current line exceeds `maxLineLength`. Sticky: the stream cannot be resynchronised.
        case overlong
    }

    /// Longest accepted line, terminator included.
    public let maxLineLength: Int

    private var storage: [UInt8] = []
    private var start = 0
    /// Index up to which `storage` is known to hold no LF (from `start`).
    private var scanned = 0
    private var poisoned = false

    public init(maxLineLength: Int) {
        precondition(maxLineLength >= 2, "a line needs room for its terminator")
        self.maxLineLength = maxLineLength
    }

    /// Bytes buffered and not yet returned.
    public var bufferedCount: Int { storage.count - start }

    /// The bytes buffered and not yet returned, left in place.
    var buffered: ArraySlice<UInt8> { storage[start...] }

    public mutating func append(_ bytes: ArraySlice<UInt8>) {
        if start > 0 {
            storage.removeFirst(start)
            scanned -= start
            start = 0
        }
        storage.append(contentsOf: bytes)
    }

    /// The next complete line, if any.
    public mutating func next() -> Next {
        next(maxLength: maxLineLength)
    }

    /// The next complete line under a limit other than `maxLineLength`, for a reader whose limit depends on what
    /// is expected next (the SMTP gate takes longer SASL responses than commands).
    mutating func next(maxLength: Int) -> Next {
        if poisoned { return .overlong }
        var index = max(scanned, start)
        while index < storage.count, storage[index] != UInt8(ascii: "\n") {
            index += 1
        }
        guard index < storage.count else {
            scanned = index
            if storage.count - start >= maxLength {
                poisoned = true
                return .overlong
            }
            return .needMoreData
        }
        let end = index + 1
        if end - start > maxLength {
            poisoned = true
            return .overlong
        }
        let hasCR = index > start && storage[index - 1] == UInt8(ascii: "\r")
        let line = Line(raw: Array(storage[start..<end]), terminatorLength: hasCR ? 2 : 1)
        start = end
        scanned = end
        return .line(line)
    }

    /// Removes and returns up to `count` raw bytes (IMAP literal data, which is not line-structured).
    public mutating func take(upTo count: Int) -> [UInt8] {
        let n = min(max(count, 0), bufferedCount)
        let bytes = Array(storage[start..<(start + n)])
        start += n
        scanned = max(scanned, start)
        return bytes
    }

    /// Drops up to `count` raw bytes without copying them; returns how many were dropped.
    public mutating func skip(upTo count: Int) -> Int {
        let n = min(max(count, 0), bufferedCount)
        start += n
        scanned = max(scanned, start)
        return n
    }

    /// Removes and returns everything buffered (the unconsumed remainder).
    public mutating func takeBuffered() -> [UInt8] {
        let rest = Array(storage[start...])
        discardBuffered()
        return rest
    }

    /// Forgets everything buffered. Used after STARTTLS: bytes that arrived behind the STARTTLS line were sent in
    /// plaintext and must never be executed inside the TLS session (CVE-2011-0411 class).
    public mutating func discardBuffered() {
        storage.removeAll(keepingCapacity: false)
        start = 0
        scanned = 0
    }
}
