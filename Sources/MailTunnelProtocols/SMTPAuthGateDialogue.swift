/// The SMTP auth gate (`auth = sasl | certificate`), run once TLS is up: mailtunnel conducts the SMTP
/// dialogue until the client has authenticated, then hands the session to the backend and relays.
///
/// - The backend's greeting is relayed; EHLO is forwarded and its reply rewritten to advertise the gate's
///   `AUTH` mechanisms instead of the backend's own AUTH/STARTTLS/XCLIENT/XFORWARD.
/// - `AUTH` per RFC 4954 (base64 done here, SASL by the `SMTPAuthenticator`); MAIL and every other
///   command before success get 530.
/// - On success, with `xclient`, the backend is told the client's address and login (XCLIENT), its fresh
///   greeting swallowed and the client's EHLO replayed silently, all before the client hears 235, so the
///   backend is ready for MAIL the moment the session is relayed. With `xclient`, a greeting other than 220 or
///   a failed hand-over (XCLIENT or the replayed EHLO refused) gives `421 4.3.0` and a close: no client command
///   reaches a backend that does not know who the client is.
/// - The relayed session is watched by an `SMTPRelayGuard` that starts with what the backend's latest EHLO
///   reply (the replayed one after XCLIENT) offered.
/// - Certificate mode with a verified identity: the client counts as authenticated from the start; its
///   first transaction command triggers the same hand-over and is then forwarded.
///
/// Commands are handled strictly one at a time: pipelined client bytes wait in the buffer while a
/// command is with the backend, so nothing a client sends early is ever answered out of order.
///
/// By job: the session before AUTH and the EHLO rewrite in SMTPAuthGate+Commands.swift, the AUTH exchange in
/// SMTPAuthGate+Exchange.swift, XCLIENT and the hand-over to the relay in SMTPAuthGate+Handover.swift.
public struct SMTPAuthGateDialogue: MailDialogue {
    public enum Mode: String, Sendable, Equatable { case sasl, certificate }

    /// RFC 5321 command line limit, CRLF included.
    public static let commandLineLimit = 512
    /// RFC 4954 section 4: SASL responses may be far longer than a command line (12288 octets suggested).
    public static let saslResponseLimit = 12288
    /// Unanswered client input held at most: one longest SASL response plus room for pipelined commands.
    public static let maxBufferedClientBytes = 32768

    public let mode: Mode
    /// Who authenticated (SASL user name, or the certificate identity); nil until then.
    public internal(set) var authenticatedUser: String?
    /// Failed AUTH exchanges so far (bad credentials or undecodable responses).
    public internal(set) var failures = 0

    let authenticator: (any SMTPAuthenticator)?
    let client: SocketEndpoint?
    let certificateIdentity: String?
    let sendXCLIENT: Bool
    let failureLimit: Int
    let attemptPolicy: (any AuthAttemptPolicy)?
    /// Who may relay where; with `local-domains` or from a trusted network a client needs no AUTH to send.
    let relayRules: SMTPRelayRules
    let trusted: Bool
    /// The rules the relay guard applies once the session is handed over.
    var handoverPolicy = SMTPTransactionPolicy.open

    enum Exchange { case sasl, external }
    /// What ends the hand-over to the backend.
    enum Completion { case answer235, forward([UInt8]) }
    enum HandoverStage { case xclientReply(remaining: [[UInt8]]), ehloReply }
    enum State {
        case awaitingGreeting
        case ready
        case awaitingHeloReply(isEHLO: Bool, line: [UInt8])
        case exchanging(Exchange)
        case awaitingFinalAck(user: String)
        case handingOver(HandoverStage, Completion)
        case finished
    }

    var state: State = .awaitingGreeting
    var clientLines = LineReader(maxLineLength: SMTPAuthGateDialogue.saslResponseLimit)
    var backendReplies = SMTPReplyReader()
    /// The client's last accepted EHLO/HELO line, replayed after XCLIENT resets the backend session.
    var heloLine: [UInt8]?
    /// What the backend's reply to the latest EHLO/HELO offered: the relay guard starts from it.
    var backendExtensions = SMTPExtensions.none
    var handedOverGuard: SMTPRelayGuard?

    public mutating func takeRelayGuard() -> SMTPRelayGuard? {
        defer { handedOverGuard = nil }
        return handedOverGuard
    }

    /// - Parameters:
    ///   - authenticator: required for `.sasl`; unused for `.certificate` (EXTERNAL is handled here).
    ///   - client: the client's address and port, for XCLIENT ADDR/PORT.
    ///   - certificateIdentity: the verified client-certificate identity, if any.
    ///   - xclient: send XCLIENT to the backend after authentication.
    ///   - failureLimit: failed AUTH attempts before the connection is closed.
    ///   - attemptPolicy: the limit across connections (per client address), asked before every step that
    ///     may check a credential.
    ///   - backendGreeted: the backend's greeting already reached the client (STARTTLS listeners, where the
    ///     gate starts after the upgrade and the client's next command is its new EHLO).
    ///   - relayRules: `local-domains` and `sender-login-map`; `trusted`: the client is in `trusted-networks`.
    public init(mode: Mode, authenticator: (any SMTPAuthenticator)?, client: SocketEndpoint?,
                certificateIdentity: String?, xclient: Bool, failureLimit: Int = 3, backendGreeted: Bool = false,
                attemptPolicy: (any AuthAttemptPolicy)? = nil,
                relayRules: SMTPRelayRules = SMTPRelayRules(authenticationRequired: true), trusted: Bool = false) {
        self.relayRules = relayRules
        self.trusted = trusted
        self.mode = mode
        self.authenticator = authenticator
        self.client = client
        self.certificateIdentity = certificateIdentity
        self.sendXCLIENT = xclient
        self.failureLimit = max(1, failureLimit)
        self.attemptPolicy = attemptPolicy
        if mode == .certificate, let certificateIdentity { authenticatedUser = certificateIdentity }
        if backendGreeted { state = .ready }
    }

    /// Mechanisms advertised after EHLO.
    var mechanisms: [String] {
        switch mode {
        case .sasl: return authenticator?.mechanisms() ?? []
        case .certificate: return certificateIdentity == nil ? [] : ["EXTERNAL"]
        }
    }

    /// Whether taking `clientBytes` (or, with none, a backend reply, which lets buffered client lines through)
    /// may call the authenticator, which can block for seconds; the caller then hands the input to a worker.
    /// Conservative: an exchange under way, or "AUTH" anywhere in the pending client input, counts.
    public func mayAuthenticate(clientBytes: ArraySlice<UInt8> = []) -> Bool {
        guard authenticator != nil else { return false }
        if case .exchanging(.sasl) = state { return true }
        let pending = clientLines.buffered
        // "AUTH" split between what is buffered and what arrives is found by scanning the seam too.
        return Self.containsAUTH(pending) || Self.containsAUTH(pending.suffix(3) + clientBytes)
    }

    static func containsAUTH(_ bytes: ArraySlice<UInt8>) -> Bool {
        let word: [UInt8] = Array("AUTH".utf8)
        guard bytes.count >= word.count else { return false }
        var index = bytes.startIndex
        while index <= bytes.endIndex - word.count {
            if (0..<word.count).allSatisfy({ bytes[index + $0] & 0xDF == word[$0] }) { return true }
            index += 1
        }
        return false
    }

    // MARK: MailDialogue

    public mutating func tlsEstablished() -> [DialogueAction] { [] }

    public mutating func backendClosed() -> [DialogueAction] {
        if case .finished = state { return [] }
        return failSession(reason: "backend closed the connection during the SMTP auth gate")
    }

    public mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        if case .finished = state { return [] }
        clientLines.append(bytes)
        let actions = processClient()
        // While a command is with the backend nothing is consumed; a client that keeps sending must not
        // make the buffer grow without bound.
        if case .finished = state { return actions }
        guard clientLines.bufferedCount <= Self.maxBufferedClientBytes else {
            state = .finished
            return actions + [.sendToClient(Array("421 4.7.0 Too much pipelined input\r\n".utf8)),
                              .close(reason: "client sent more than \(Self.maxBufferedClientBytes) bytes ahead of the SMTP auth gate")]
        }
        return actions
    }

    public mutating func receiveFromBackend(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        if case .finished = state { return [] }
        backendReplies.append(bytes)
        var actions: [DialogueAction] = []
        while true {
            if case .finished = state { return actions }
            switch backendReplies.next() {
            case .needMore: return actions
            case .invalid(let reason): return actions + failSession(reason: "backend sent a malformed reply: \(reason)")
            case .reply(let reply):
                actions += handleBackendReply(reply)
                actions += processClient()
            }
        }
    }

    // MARK: Helpers

    func reply(_ text: String) -> [DialogueAction] { [.sendToClient(Array((text + "\r\n").utf8))] }

    mutating func failSession(reason: String) -> [DialogueAction] {
        state = .finished
        return [.sendToClient(MailProtocol.smtp.profile.unavailableReply ?? []), .close(reason: reason)]
    }
}
