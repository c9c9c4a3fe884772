/// SMTP as a client (RFC 3207): 220 greeting, EHLO, a 250 reply listing STARTTLS, STARTTLS, 220.
struct SMTPStartTLSClientRules: StartTLSClientRules {
    let capabilityCommand: [UInt8]
    let startTLSCommand = ascii("STARTTLS\r\n")
    private var offered = false

    /// `clientName`: the EHLO argument (the local host's name).
    init(clientName: String) { capabilityCommand = ascii("EHLO \(clientName)\r\n") }

    func greetingLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        Self.replyLine(line, code: "220", what: "greeting")
    }

    mutating func capabilityLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        let verdict = Self.replyLine(line, code: "250", what: "EHLO reply")
        if line.count > 4, line.dropFirst(4).upperWords.first == "STARTTLS" { offered = true }
        guard verdict == .complete else { return verdict }
        return offered ? .complete : .refused("server does not offer STARTTLS")
    }

    func startTLSLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        Self.replyLine(line, code: "220", what: "STARTTLS reply")
    }

    func greetingForApplication(_ lines: [[UInt8]]) -> [UInt8] { Array(lines.joined()) }

    /// `CODE-text` goes on, `CODE text` or a bare `CODE` ends the reply, any other line refuses.
    private static func replyLine(_ line: ArraySlice<UInt8>, code: String, what: String) -> ServerLineVerdict {
        guard line.asciiHasUppercasePrefix(code) else { return .refused("\(what): \(line.quotedForLog)") }
        let rest = line.dropFirst(3)
        switch rest.first {
        case nil, UInt8(ascii: " "): return .complete
        case UInt8(ascii: "-"): return .more
        default: return .refused("\(what): \(line.quotedForLog)")
        }
    }
}
