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
