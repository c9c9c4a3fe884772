/// POP3 as a client (RFC 2595, RFC 2449): `+OK` greeting, CAPA listing STLS, STLS, `+OK`.
struct POP3StartTLSClientRules: StartTLSClientRules {
    let capabilityCommand = ascii("CAPA\r\n")
    let startTLSCommand = ascii("STLS\r\n")
    private var offered = false
    private var listStarted = false

    func greetingLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        line.asciiHasUppercasePrefix("+OK") ? .complete : .refused("greeting: \(line.quotedForLog)")
    }

    mutating func capabilityLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        guard listStarted else {
            // A server without CAPA cannot be known to offer STLS: fail closed rather than try.
            guard line.asciiHasUppercasePrefix("+OK") else { return .refused("server does not offer STLS") }
            listStarted = true
            return .more
        }
        if line.elementsEqual(ascii(".")) { return offered ? .complete : .refused("server does not offer STLS") }
        if line.upperWords.first == "STLS" { offered = true }
        return .more
    }

    func startTLSLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict {
        line.asciiHasUppercasePrefix("+OK") ? .complete : .refused("STLS reply: \(line.quotedForLog)")
    }

    func greetingForApplication(_ lines: [[UInt8]]) -> [UInt8] { Array(lines.joined()) }
}
