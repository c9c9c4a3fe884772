/// What one line of a server reply means to the client side of a STARTTLS upgrade.
public enum ServerLineVerdict: Equatable, Sendable {
    /// The reply goes on: read another line.
    case more
    /// The reply is complete and is what the client wanted.
    case complete
    /// The server refused, or said something the upgrade cannot go on from: fail closed with this reason.
    case refused(String)
}

/// One protocol's side of the upgrade as a client (mailtunnel's client mode): how its greeting, capability and
/// STARTTLS replies read. The steps are fixed: greeting, capability query, STARTTLS, then the TLS handshake.
protocol StartTLSClientRules: Sendable {
    /// The command that lists what the server offers (EHLO, CAPABILITY, CAPA).
    var capabilityCommand: [UInt8] { get }
    /// The command that asks for the upgrade (STARTTLS, STLS).
    var startTLSCommand: [UInt8] { get }
    mutating func greetingLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict
    /// `.complete` only when the full reply listed the upgrade.
    mutating func capabilityLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict
    mutating func startTLSLine(_ line: ArraySlice<UInt8>) -> ServerLineVerdict
    /// What the local application reads first once TLS is up, made from the server's own greeting lines.
    func greetingForApplication(_ lines: [[UInt8]]) -> [UInt8]
}

extension ArraySlice where Element == UInt8 {
    /// Whitespace-separated words, upper-cased (capability keywords are case-insensitive).
    var upperWords: [String] {
        split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map { String(decoding: $0, as: UTF8.self).uppercased() }
    }

    /// The line as a log or error text may show it: short, and control bytes made visible.
    var quotedForLog: String { String(decoding: prefix(120).map { $0 < 0x20 || $0 > 0x7e ? 0x3f : $0 }, as: UTF8.self) }
}
