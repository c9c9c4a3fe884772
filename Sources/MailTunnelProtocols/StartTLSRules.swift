/// What one protocol contributes to the STARTTLS dialogue: how its commands are parsed and which are answered
/// here, how the backend's replies end and how its capability lists are rewritten, and the words for STARTTLS.
///
/// Everything the three protocols share (reply ordering, the ClientHello check, dropping what the client injects
/// behind STARTTLS, holding backend bytes during the handshake) lives once in `StartTLSDialogue`. Rules never
/// touch the line readers or the reply queue: they look at one complete line and return a verdict, which keeps
/// each protocol's file about that protocol alone.
public protocol StartTLSRules: Sendable {
    /// What a forwarded command waits for from the backend.
    associatedtype Pending: StartTLSPending

    /// Longest client line accepted, terminator included.
    static var maxLineLength: Int { get }
    /// The client's upgrade command (`STARTTLS`, POP3's `STLS`), for the dialogue's close reasons.
    static var startTLSVerb: String { get }
    /// The protocol's replies to situations the dialogue handles the same way everywhere.
    static var wording: StartTLSWording { get }

    init()

    /// One complete client line while plaintext commands are read.
    mutating func command(_ line: LineReader.Line) -> StartTLSCommandVerdict<Pending>
    /// One complete backend line while replies are read; `awaiting` is the oldest reply still owed.
    mutating func reply(_ line: LineReader.Line, awaiting: Pending?) -> StartTLSReplyVerdict<Pending>

    /// Octets (IMAP literal data) the client sends before its next line, which are skipped unread; nil when the
    /// next client bytes are a line.
    var clientOctetsBeforeNextLine: Int? { get }
    mutating func clientOctetsSkipped(_ count: Int)
    /// Octets (IMAP literal data) the backend sends before its next line, which are passed on untouched; nil
    /// when the next backend bytes are a line.
    var backendOctetsBeforeNextLine: Int? { get }
    mutating func backendOctetsPassed(_ count: Int)
    /// Backend lines collected but not yet passed on (a partial SMTP EHLO reply): sent if the backend closes.
    var unsentReplyBytes: [UInt8] { get }
    /// After `.relayWithoutTLS`: the filter that watches the plaintext session from the client's line on.
    func plaintextRelayFilter() -> (any RelayFilter)?
}

extension StartTLSRules {
    public var clientOctetsBeforeNextLine: Int? { nil }
    public mutating func clientOctetsSkipped(_ count: Int) {}
    public var backendOctetsBeforeNextLine: Int? { nil }
    public mutating func backendOctetsPassed(_ count: Int) {}
    public var unsentReplyBytes: [UInt8] { [] }
    public func plaintextRelayFilter() -> (any RelayFilter)? { nil }
}

/// What a dialogue waits for from the backend. Every dialogue waits for the greeting first.
public protocol StartTLSPending: Equatable, Sendable {
    static var greeting: Self { get }
}

/// What the dialogue does with one complete client command line.
public enum StartTLSCommandVerdict<Pending: StartTLSPending>: Equatable, Sendable {
    /// Send the line to the backend as received; it is answered once the backend completes `awaiting`.
    case forward(awaiting: Pending)
    /// Our own reply, delivered once every earlier forwarded command has its reply.
    case answer([UInt8])
    /// STARTTLS accepted: later client input is dropped, and `reply` plus the handshake follow every earlier reply.
    case startTLS(reply: [UInt8])
    /// `starttls = optional`: the client stays in plaintext. Once every earlier reply is in, the session is relayed
    /// from this line on, watched by the rules' `plaintextRelayFilter`; later stages (the auth gate) do not run.
    case relayWithoutTLS
    /// Send `reply` now and close.
    case fatal(reply: [UInt8], reason: String)
    /// The command is not complete yet (IMAP literal octets follow); nothing to do.
    case incomplete
}

/// What the dialogue does with one complete backend line.
public enum StartTLSReplyVerdict<Pending: StartTLSPending>: Equatable, Sendable {
    /// Send each byte string to the client (none: the line is dropped or collected); then, when `completing` is
    /// set, the first reply awaited as `completing` is complete.
    case pass([[UInt8]], completing: Pending?)
    /// The backend cannot be followed: close.
    case close(reason: String)
}

/// A protocol's words for the situations the dialogue handles the same way for every protocol.
public struct StartTLSWording: Sendable {
    /// Sent before closing when a client line is longer than the dialogue accepts.
    let lineTooLong: String
    /// Sent before closing when more than `maxPendingCommands` commands wait for an answer.
    let tooManyCommands: String
    /// Close reason when `tlsEstablished()` comes without a STARTTLS/STLS request.
    let unrequestedTLSReason: String
    /// Whose `unavailableReply` the client gets when the backend closes before its greeting.
    let mailProtocol: MailProtocol
}
