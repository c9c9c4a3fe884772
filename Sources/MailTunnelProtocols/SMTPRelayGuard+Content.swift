#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The guard's scanner for what is not a command: message content after 354 and BDAT chunks.
///
/// - `DATA`: any line whose first token is `DATA` (whatever follows) is forwarded, then further client input is
///   held until the backend's reply to it. The reply, not our parse, decides: only `354` starts message content.
///   So a `DATA` the backend tokenises differently can only make us hold needlessly, never pass content unseen.
/// - End of message content: at a line start (right after 354 or after an LF), `.` followed by any number of CR
///   and then LF. That is exactly what Postfix accepts (it strips every CR before the LF) and a superset of what
///   stricter backends accept (`CRLF.CRLF` only). Recognising more endings than the backend could only make us
///   rewrite message text or wait for a reply that never comes; recognising fewer would let `\n.\nXCLIENT …`
///   smuggle a command past us. Legitimate clients send CRLF and dot-stuff, so they never hit the difference.
/// - `BDAT n [LAST]` (RFC 3030): the backend replies only after the chunk, so there is no reply to wait for. Only
///   the canonical form `BDAT SP digits [SP LAST]` (single spaces, CRLF or LF, at most 18 digits) is considered;
///   any other line whose token is `BDAT` is denied, so both sides read the following bytes as commands. For a
///   canonical line, if a reply to an earlier EHLO/HELO is still outstanding, client input is held until it is
///   in. Then: when the backend offered CHUNKING, the line is forwarded and the next n bytes pass untouched (a
///   backend that offers CHUNKING consumes the chunk even of a BDAT it rejects, as RFC 3030 requires and Postfix
///   does). When it did not, neither the line nor the n chunk bytes ever reach the backend: the guard discards
///   the chunk (as a CHUNKING server discards a refused one, so the client's view stays aligned) and answers
///   `bdatRefusal` itself, in its place among the pipelined replies. Answering rather than closing keeps a
///   confused client's session usable; the bytes are gone either way.
extension SMTPRelayGuard {
    /// A complete line whose token is `BDAT`: forward it, refuse it, or wait until the backend has said whether
    /// it offers CHUNKING.
    mutating func handleBDAT(_ line: [UInt8], into out: inout [UInt8]) {
        guard let size = Self.parseBDAT(line) else {
            out.append(contentsOf: Self.deniedCommand)
            expect(.plain)
            return
        }
        if helloRepliesPending > 0 {
            // Re-read from the start once the replies are in; nothing behind it may pass before.
            state = .holding(.helloReplies)
            hold(line[...])
        } else if extensions.chunking {
            out.append(contentsOf: line)
            expect(.plain)
            if size > 0 { state = .chunk(remaining: size) }
        } else {
            refuseBDAT()
            if size > 0 { state = .discarding(remaining: size) }
        }
    }

    // MARK: Scanning

    static let lf = UInt8(ascii: "\n")
    static let cr = UInt8(ascii: "\r")
    static let dot = UInt8(ascii: ".")

    /// Index of the first LF in `bytes`.
    static func firstLF(in bytes: ArraySlice<UInt8>) -> Int? {
        bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress, !buffer.isEmpty,
                  let found = memchr(base, Int32(lf), buffer.count) else { return nil }
            return bytes.startIndex + (UnsafeRawPointer(found) - UnsafeRawPointer(base))
        }
    }

    /// Scans message content for the end-of-data line. Returns the index just past its LF (nil when the content
    /// continues past `bytes`) and the scan state at the end of `bytes`.
    static func scanContent(_ bytes: ArraySlice<UInt8>, from start: DataScan) -> (end: Int?, state: DataScan) {
        bytes.withUnsafeBufferPointer { buffer in
            let (offset, after) = scanContent(buffer, from: start)
            return (offset.map { bytes.startIndex + $0 }, after)
        }
    }

    /// The same over raw memory; the returned end is an offset into `buffer`.
    static func scanContent(_ buffer: UnsafeBufferPointer<UInt8>, from start: DataScan) -> (end: Int?, state: DataScan) {
        guard let base = buffer.baseAddress else { return (nil, start) }
        let count = buffer.count
        var scan = start
        var i = 0
        while i < count {
            switch scan {
            case .midLine:
                // Tight path: memchr to the next LF; nothing else inside a line matters.
                guard let found = memchr(base + i, Int32(lf), count - i) else { return (nil, .midLine) }
                i = (UnsafeRawPointer(found) - UnsafeRawPointer(base)) + 1
                scan = .lineStart
            case .lineStart:
                if base[i] == dot {
                    scan = .dotLine
                    i += 1
                } else {
                    scan = .midLine
                }
            case .dotLine:
                let byte = base[i]
                if byte == lf { return (i + 1, .lineStart) }
                if byte == cr {
                    i += 1  // `.` CR* LF: Postfix strips every CR before the LF
                } else {
                    scan = .midLine  // `..` (dot-stuffed) or `.text`: content
                }
            }
        }
        return (nil, scan)
    }

    /// The chunk size of a canonical `BDAT SP digits [SP LAST]` line (CRLF or LF), else nil.
    static func parseBDAT(_ line: [UInt8]) -> Int? {
        var content = line[...].dropLast()  // the LF
        if content.last == cr { content = content.dropLast() }
        guard content.asciiHasUppercasePrefix("BDAT ") else { return nil }
        var rest = content.dropFirst(5)
        if rest.count > 5, rest.suffix(5).asciiEqualsUppercase(" LAST") { rest = rest.dropLast(5) }
        guard !rest.isEmpty, rest.count <= 18,
              rest.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return rest.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
