/// The client side of a STARTTLS upgrade, for mailtunnel's client mode: mailtunnel, not the local application,
/// talks to the remote server until TLS is up. Pure: the engine feeds it what the server sends and performs the
/// returned actions. Nothing the local application sends is part of it, so nothing of the application's can
/// reach the server before TLS.
///
/// Fail closed: a refusal, a reply it cannot read, a server that does not offer the upgrade, and any byte the
/// server sends that was not asked for (in particular after its STARTTLS reply: bytes injected there would be
/// read as if they came through TLS, CVE-2011-0411's mirror image) end the upgrade with `.fail`.
public struct StartTLSClientDialogue: Sendable {
    public enum Action: Equatable, Sendable {
        /// Write these bytes to the server (plaintext: only mailtunnel's own commands).
        case send([UInt8])
        /// The server agreed: start the TLS handshake on the socket now, reading nothing more in plaintext.
        case startTLS
        /// Give up: the local application gets the protocol's temporary error. The text says why, for the log.
        case fail(String)
    }

    private enum Step { case greeting, capabilities, startTLS, upgraded, failed }

    /// Longest server line accepted (RFC 5321 allows 512 for replies; capability lists run longer).
    static let maxLineLength = 4096
    /// Lines in one reply: a server that never ends its capability list cannot hold memory.
    static let maxLinesPerReply = 256

    private var rules: any StartTLSClientRules
    private var step = Step.greeting
    private var reader = LineReader(maxLineLength: maxLineLength)
    private var greeting: [[UInt8]] = []
    private var linesInReply = 0

    /// nil for a protocol without an upgrade (`none`). `clientName`: what SMTP's EHLO says.
    public init?(protocol: MailProtocol, clientName: String) {
        switch `protocol` {
        case .smtp: rules = SMTPStartTLSClientRules(clientName: clientName)
        case .imap: rules = IMAPStartTLSClientRules()
        case .pop3: rules = POP3StartTLSClientRules()
        case .none: return nil
        }
    }

    /// What the local application reads first once TLS is up: the server's greeting, which it sent before the
    /// upgrade and will not repeat (see `StartTLSClientRules.greetingForApplication`).
    public var greetingForApplication: [UInt8] { rules.greetingForApplication(greeting) }

    public var isUpgraded: Bool { step == .upgraded }

    public mutating func receive(_ bytes: ArraySlice<UInt8>) -> [Action] {
        guard step != .failed else { return [] }
        guard step != .upgraded else { return fail("server sent plaintext after the upgrade began") }
        reader.append(bytes)
        var actions: [Action] = []
        while true {
            switch reader.next() {
            case .needMoreData: return actions
            case .overlong: return actions + fail("server line longer than \(Self.maxLineLength) bytes")
            case .line(let line):
                linesInReply += 1
                if linesInReply > Self.maxLinesPerReply { return actions + fail("server reply longer than \(Self.maxLinesPerReply) lines") }
                let next = take(line)
                actions += next
                if step == .failed || step == .upgraded { return actions }
                if !next.isEmpty, reader.bufferedCount > 0 {
                    return actions + fail("server sent data before it was asked")
                }
            }
        }
    }

    /// The server closed the connection before TLS.
    public mutating func serverClosed() -> [Action] {
        guard step != .failed, step != .upgraded else { return [] }
        return fail("server closed the connection before TLS")
    }

    private mutating func take(_ line: LineReader.Line) -> [Action] {
        let content = line.content
        switch step {
        case .greeting:
            greeting.append(line.raw)
            return proceed(rules.greetingLine(content), then: .capabilities, sending: rules.capabilityCommand)
        case .capabilities:
            return proceed(rules.capabilityLine(content), then: .startTLS, sending: rules.startTLSCommand)
        case .startTLS:
            let verdict = rules.startTLSLine(content)
            guard verdict == .complete else { return proceed(verdict, then: .startTLS, sending: []) }
            // The reply must be the last plaintext byte: anything after it was never asked for.
            guard reader.bufferedCount == 0 else { return fail("server sent data after its STARTTLS reply") }
            step = .upgraded
            return [.startTLS]
        case .upgraded, .failed:
            return []
        }
    }

    private mutating func proceed(_ verdict: ServerLineVerdict, then next: Step, sending command: [UInt8]) -> [Action] {
        switch verdict {
        case .more: return []
        case .refused(let why): return fail(why)
        case .complete:
            step = next
            linesInReply = 0
            return [.send(command)]
        }
    }

    private mutating func fail(_ why: String) -> [Action] {
        step = .failed
        return [.fail(why)]
    }
}
