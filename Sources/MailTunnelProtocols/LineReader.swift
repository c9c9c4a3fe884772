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
        if poisoned { return .overlong }
        var index = max(scanned, start)
        while index < storage.count, storage[index] != UInt8(ascii: "\n") {
            index += 1
        }
        guard index < storage.count else {
            scanned = index
            if storage.count - start >= maxLineLength {
                poisoned = true
                return .overlong
            }
            return .needMoreData
        }
        let end = index + 1
        if end - start > maxLineLength {
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

/// IMAP literals (RFC 3501 §4.3, RFC 7888): a line ending in `{n}`, `{n+}` or `{n-}` is followed by n raw octets and
/// then the rest of the command on a further line.
///
/// Only the end of the line needs inspecting: a literal announcement is by definition the last thing on its line,
/// and a quoted string cannot end a line, so `"…{5}"` is never mistaken for one.
public enum IMAPLiteral {
    public struct Marker: Equatable, Sendable {
        /// Announced octet count; `Int.max` when the number does not fit (treat as too large, never as "no literal").
        public var count: Int
        /// `{n}`: the sender waits for a `+` continuation. `{n+}` / `{n-}`: the octets follow at once.
        public var synchronising: Bool

        public init(count: Int, synchronising: Bool) {
            self.count = count
            self.synchronising = synchronising
        }
    }

    /// The literal announced at the end of `content` (a line without its terminator), if any.
    public static func trailing(in content: ArraySlice<UInt8>) -> Marker? {
        guard content.last == UInt8(ascii: "}") else { return nil }
        var index = content.index(before: content.endIndex)
        guard index > content.startIndex else { return nil }
        index = content.index(before: index)
        var synchronising = true
        if content[index] == UInt8(ascii: "+") || content[index] == UInt8(ascii: "-") {
            synchronising = false
            guard index > content.startIndex else { return nil }
            index = content.index(before: index)
        }
        let digitsEnd = index + 1
        while index >= content.startIndex, isDigit(content[index]) {
            if index == content.startIndex {
                return nil  // digits run to the start: there is no opening brace
            }
            index = content.index(before: index)
        }
        let digitsStart = index + 1
        guard digitsStart < digitsEnd, content[index] == UInt8(ascii: "{") else { return nil }
        var count = 0
        for digit in content[digitsStart..<digitsEnd] {
            let (times, overflow1) = count.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                count = Int.max
                break
            }
            count = sum
        }
        return Marker(count: count, synchronising: synchronising)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}
