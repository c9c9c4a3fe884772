/// IMAP as a client (RFC 2595, RFC 9051): `* OK` greeting, CAPABILITY listing STARTTLS, STARTTLS, tagged OK.
struct IMAPStartTLSClientRules: StartTLSClientRules {
    let capabilityCommand = ascii("C1 CAPABILITY\r\n")
    let startTLSCommand = ascii("C2 STARTTLS\r\n")
    private var offered = false

    func greetingLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        if line.asciiHasUppercasePrefix("* OK") { return .complete }
        // PREAUTH: already authenticated in plaintext, STARTTLS is no longer allowed (RFC 9051 6.2.1).
        return .refused("greeting: \(line.quotedForLog)")
    }

    mutating func capabilityLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        if line.asciiHasUppercasePrefix("* CAPABILITY ") {
            if line.dropFirst(13).upperWords.contains("STARTTLS") { offered = true }
            return .more
        }
        if line.asciiHasUppercasePrefix("* ") { return .more }
        guard line.asciiHasUppercasePrefix("C1 OK") else { return .refused("CAPABILITY reply: \(line.quotedForLog)") }
        return offered ? .complete : .refused("server does not offer STARTTLS")
    }

    func startTLSLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        if line.asciiHasUppercasePrefix("C2 OK") { return .complete }
        if line.asciiHasUppercasePrefix("* ") { return .more }
        return .refused("STARTTLS reply: \(line.quotedForLog)")
    }

    /// The greeting without a `[CAPABILITY …]` code: the pre-TLS list (STARTTLS, LOGINDISABLED) would mislead the
    /// application, which then asks CAPABILITY inside TLS and gets the server's real list.
    func greetingForApplication(_ lines: [[UInt8]]) -> [UInt8] {
        guard let line = lines.first else { return [] }
        let afterOK = line.dropFirst(4).drop { $0 == UInt8(ascii: " ") }
        guard afterOK.asciiHasUppercasePrefix("[CAPABILITY"), let close = afterOK.firstIndex(of: UInt8(ascii: "]"))
        else { return line }
        let text = line[(close + 1)...].drop { $0 == UInt8(ascii: " ") }
        return ascii("* OK ") + text
    }
}
