/// Byte-level ASCII helpers shared by the protocol parsers: commands and replies are bytes on the wire, and
/// comparing them as bytes keeps a stray non-UTF-8 octet from ever changing what a line means.
extension UInt8 {
    var asciiUppercased: UInt8 {
        self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z") ? self - 32 : self
    }
}

extension Collection where Element == UInt8 {
    /// Case-insensitive ASCII comparison with an uppercase literal.
    func asciiEqualsUppercase(_ upper: String) -> Bool {
        count == upper.utf8.count && asciiHasUppercasePrefix(upper)
    }

    /// Case-insensitive ASCII prefix test against an uppercase literal.
    func asciiHasUppercasePrefix(_ upper: String) -> Bool {
        guard count >= upper.utf8.count else { return false }
        return zip(self, upper.utf8).allSatisfy { $0.asciiUppercased == $1 }
    }

    var isBlankASCII: Bool {
        allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }
}

/// Splits a command line into its first word and the rest (after one space), as SMTP, POP3 and IMAP all do.
func splitFirstWord(_ line: ArraySlice<UInt8>) -> (word: ArraySlice<UInt8>, rest: ArraySlice<UInt8>?) {
    guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return (line, nil) }
    return (line[line.startIndex..<space], line[(space + 1)...])
}

func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }
