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
    public private(set) var authenticatedUser: String?
    /// Failed AUTH exchanges so far (bad credentials or undecodable responses).
    public private(set) var failures = 0

    private let authenticator: (any SMTPAuthenticator)?
    private let client: SocketEndpoint?
    private let certificateIdentity: String?
    private let sendXCLIENT: Bool
    private let failureLimit: Int
    private let attemptPolicy: (any AuthAttemptPolicy)?

    private enum Exchange { case sasl, external }
    /// What ends the hand-over to the backend.
    private enum Completion { case answer235, forward([UInt8]) }
    private enum HandoverStage { case xclientReply(remaining: [[UInt8]]), ehloReply }
    private enum State {
        case awaitingGreeting
        case ready
        case awaitingHeloReply(isEHLO: Bool, line: [UInt8])
        case exchanging(Exchange)
        case awaitingFinalAck(user: String)
        case handingOver(HandoverStage, Completion)
        case finished
    }

    private var state: State = .awaitingGreeting
    private var clientLines = LineBuffer()
    private var backendReplies = SMTPReplyReader()
    /// The client's last accepted EHLO/HELO line, replayed after XCLIENT resets the backend session.
    private var heloLine: [UInt8]?
    /// What the backend's reply to the latest EHLO/HELO offered: the relay guard starts from it.
    private var backendExtensions = SMTPExtensions.none
    private var handedOverGuard: SMTPRelayGuard?

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
    public init(mode: Mode, authenticator: (any SMTPAuthenticator)?, client: SocketEndpoint?,
                certificateIdentity: String?, xclient: Bool, failureLimit: Int = 3, backendGreeted: Bool = false,
                attemptPolicy: (any AuthAttemptPolicy)? = nil) {
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
    private var mechanisms: [String] {
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
        let pending = clientLines.bytes
        // "AUTH" split between what is buffered and what arrives is found by scanning the seam too.
        return Self.containsAUTH(pending[...]) || Self.containsAUTH(pending.suffix(3) + clientBytes)
    }

    private static func containsAUTH(_ bytes: ArraySlice<UInt8>) -> Bool {
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
        guard clientLines.bytes.count <= Self.maxBufferedClientBytes else {
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

    // MARK: Backend replies

    private mutating func handleBackendReply(_ reply: SMTPReply) -> [DialogueAction] {
        switch state {
        case .awaitingGreeting:
            guard reply.code == 220 else {
                state = .finished
                // Without XCLIENT the backend refuses in its own words; with it, the failed hand-over is ours.
                let text = sendXCLIENT ? Self.handoverFailed : reply.bytes
                return [.sendToClient(text), .close(reason: "backend greeting was \(reply.code), not 220")]
            }
            state = .ready
            return [.sendToClient(reply.bytes)]
        case .awaitingHeloReply(let isEHLO, let line):
            state = .ready
            // A refused EHLO/HELO may have reset the backend's session as well: assume nothing is offered.
            backendExtensions = isEHLO ? SMTPExtensions(ehloReply: reply) : .none
            guard reply.isPositiveCompletion else { return [.sendToClient(reply.bytes)] }
            heloLine = line
            return [.sendToClient(isEHLO ? rewriteEHLO(reply).bytes : reply.bytes)]
        case .handingOver(let stage, let completion):
            return continueHandover(stage, completion, reply: reply)
        case .ready, .exchanging, .awaitingFinalAck, .finished:
            // Nothing was asked of the backend: pass its words on (typically a 421 timeout) and stop.
            state = .finished
            return [.sendToClient(reply.bytes), .close(reason: "backend sent an unsolicited \(reply.code) reply")]
        }
    }

    /// The backend's EHLO reply, minus what only the gate may offer, plus the gate's AUTH.
    private func rewriteEHLO(_ reply: SMTPReply) -> SMTPReply {
        var lines = [reply.lines.first ?? ""]
        for line in reply.lines.dropFirst() {
            let keyword = line.split(separator: " ", maxSplits: 1).first.map { $0.uppercased() } ?? ""
            if keyword == "AUTH" || keyword.hasPrefix("AUTH=") || keyword == "STARTTLS"
                || keyword == "XCLIENT" || keyword == "XFORWARD" { continue }
            lines.append(line)
        }
        let mechanisms = self.mechanisms
        if !mechanisms.isEmpty { lines.append("AUTH " + mechanisms.joined(separator: " ")) }
        return SMTPReply(code: reply.code, lines: lines)
    }

    // MARK: Client commands

    private mutating func processClient() -> [DialogueAction] {
        var actions: [DialogueAction] = []
        while true {
            let limit: Int
            switch state {
            case .ready: limit = Self.commandLineLimit
            case .exchanging, .awaitingFinalAck: limit = Self.saslResponseLimit
            case .awaitingGreeting, .awaitingHeloReply, .handingOver, .finished: return actions
            }
            switch clientLines.next(limit: limit) {
            case .needMore: return actions
            case .tooLong:
                state = .finished
                return actions + [.sendToClient(Array("500 5.5.6 Line too long\r\n".utf8)),
                                  .close(reason: "client line longer than \(limit) bytes in the SMTP auth gate")]
            case .line(let line):
                switch state {
                case .exchanging(let exchange): actions += handleResponse(line, exchange)
                case .awaitingFinalAck(let user):
                    // The client acknowledges the final server data with an empty line; "*" still cancels.
                    if line == [UInt8(ascii: "*")] {
                        state = .ready
                        actions += reply("501 5.7.0 Authentication aborted")
                    } else {
                        actions += succeed(user: user, completion: .answer235)
                    }
                default: actions += handleCommand(line)
                }
            }
        }
    }

    private mutating func handleCommand(_ line: [UInt8]) -> [DialogueAction] {
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        let verb = words.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
        switch verb {
        case "EHLO", "HELO":
            guard words.count >= 2 else { return reply("501 5.5.4 Syntax: \(verb) hostname") }
            state = .awaitingHeloReply(isEHLO: verb == "EHLO", line: line)
            return [.sendToBackend(line + [0x0D, 0x0A])]
        case "AUTH":
            return handleAUTH(words.dropFirst().map { Array($0) })
        case "NOOP", "RSET":
            return reply("250 2.0.0 Ok")
        case "QUIT":
            state = .finished
            return reply("221 2.0.0 Bye") + [.close(reason: "client quit before authenticating")]
        case "STARTTLS":
            return reply("554 5.5.1 Error: TLS already active")
        case "":
            return reply("500 5.5.2 Error: bad syntax")
        default:
            // Certificate mode with a verified identity: the client needs no AUTH, so its first
            // transaction command starts the hand-over and is then the backend's to answer.
            if mode == .certificate, let user = authenticatedUser {
                return succeed(user: user, completion: .forward(line + [0x0D, 0x0A]))
            }
            return reply("530 5.7.0 Authentication required")
        }
    }

    private mutating func handleAUTH(_ arguments: [[UInt8]]) -> [DialogueAction] {
        guard heloLine != nil else { return reply("503 5.5.1 Error: send EHLO first") }
        guard arguments.count == 1 || arguments.count == 2 else { return reply("501 5.5.4 Syntax: AUTH mechanism [initial-response]") }
        let mechanism = String(decoding: arguments[0], as: UTF8.self).uppercased()
        guard mechanisms.contains(mechanism) else { return reply("504 5.5.4 Unrecognized authentication type") }
        return attempt { $0.beginExchange(mechanism, initialArgument: arguments.count == 2 ? arguments[1] : nil) }
    }

    private mutating func beginExchange(_ mechanism: String, initialArgument: [UInt8]?) -> [DialogueAction] {
        var initial: [UInt8]? = nil
        if let initialArgument {
            if initialArgument == [UInt8(ascii: "=")] {
                initial = []  // RFC 4954: "=" is an empty initial response
            } else if let decoded = Base64.decode(initialArgument) {
                initial = decoded
            } else {
                return failed(reply: "501 5.5.2 Cannot decode response\r\n", counts: true)
            }
        }
        switch mode {
        case .certificate:
            guard let initial else {
                state = .exchanging(.external)
                return reply("334 ")
            }
            return finishExternal(authorizationIdentity: initial)
        case .sasl:
            guard let authenticator else { return failed(reply: SMTPAuthFailure.temporary(detail: "").reply, counts: false) }
            return handleStep(authenticator.start(mechanism: mechanism, initialResponse: initial))
        }
    }

    /// A line sent in answer to a 334 challenge.
    private mutating func handleResponse(_ line: [UInt8], _ exchange: Exchange) -> [DialogueAction] {
        state = .ready
        if line == [UInt8(ascii: "*")] { return reply("501 5.7.0 Authentication aborted") }
        return attempt { $0.continueExchange(line, exchange) }
    }

    private mutating func continueExchange(_ line: [UInt8], _ exchange: Exchange) -> [DialogueAction] {
        guard let decoded = Base64.decode(line) else {
            return failed(reply: "501 5.5.2 Cannot decode response\r\n", counts: true)
        }
        switch exchange {
        case .external: return finishExternal(authorizationIdentity: decoded)
        case .sasl:
            guard let authenticator else { return failed(reply: SMTPAuthFailure.temporary(detail: "").reply, counts: false) }
            return handleStep(authenticator.step(response: decoded))
        }
    }

    /// EXTERNAL (RFC 4422 appendix A): the certificate is the credential; the client may only ask to be
    /// exactly who the certificate says.
    private mutating func finishExternal(authorizationIdentity: [UInt8]) -> [DialogueAction] {
        guard let identity = certificateIdentity,
              authorizationIdentity.isEmpty || authorizationIdentity == Array(identity.utf8) else {
            return failed(reply: SMTPAuthFailure.invalidCredentials.reply, counts: true)
        }
        return succeed(user: identity, completion: .answer235)
    }

    private mutating func handleStep(_ step: SMTPAuthStep) -> [DialogueAction] {
        switch step {
        case .challenge(let data):
            state = .exchanging(.sasl)
            return reply("334 " + Base64.encode(data))
        case .success(let user, let additional):
            if let additional, !additional.isEmpty {
                state = .awaitingFinalAck(user: user)
                return reply("334 " + Base64.encode(additional))
            }
            return succeed(user: user, completion: .answer235)
        case .failure(let failure):
            state = .ready
            return failed(reply: failure.reply, counts: failure == .invalidCredentials)
        }
    }

    /// Runs one step that may check a credential under the cross-connection policy: an address over its limit
    /// gets 454 and no check at all; a failure is reported the moment it happens, not when the connection ends.
    private mutating func attempt(_ step: (inout SMTPAuthGateDialogue) -> [DialogueAction]) -> [DialogueAction] {
        guard let policy = attemptPolicy else { return step(&self) }
        guard policy.mayAttempt() else {
            state = .ready
            return reply("454 4.7.0 Too many failed authentication attempts from your address, try again later")
        }
        let before = failures
        let actions = step(&self)
        policy.attemptEnded(failed: failures > before)
        return actions
    }

    private mutating func failed(reply text: String, counts: Bool) -> [DialogueAction] {
        state = .ready
        var actions: [DialogueAction] = [.sendToClient(Array(text.utf8))]
        guard counts else { return actions }
        failures += 1
        guard failures >= failureLimit else { return actions }
        state = .finished
        actions.append(.sendToClient(Array("421 4.7.0 Too many failed authentication attempts\r\n".utf8)))
        // On bytes: "\r\n" is one Character in Swift, so String.dropLast would take a letter with it.
        let last = String(decoding: Array(text.utf8).dropLast(2), as: UTF8.self)
        actions.append(.close(reason: "too many failed authentication attempts (\(failures)), last: \(last)"))
        return actions
    }

    // MARK: Hand-over to the backend

    private mutating func succeed(user: String, completion: Completion) -> [DialogueAction] {
        authenticatedUser = user
        guard sendXCLIENT else { return finish(completion) }
        let commands: [[UInt8]]
        do {
            commands = try XCLIENT.commands(XCLIENT.attributes(client: client, login: user))
        } catch {
            return abortHandover(reason: "cannot build XCLIENT: \(error)")
        }
        guard let first = commands.first else { return finish(completion) }
        state = .handingOver(.xclientReply(remaining: Array(commands.dropFirst())), completion)
        return [.sendToBackend(first)]
    }

    private mutating func continueHandover(_ stage: HandoverStage, _ completion: Completion, reply: SMTPReply) -> [DialogueAction] {
        switch stage {
        case .xclientReply(let remaining):
            // Postfix's XCLIENT success reply is the new session's 220 greeting: the client must not see it.
            guard XCLIENT.outcome(of: reply) == .accepted else {
                return abortHandover(reason: "backend rejected XCLIENT: \(reply.code) \(reply.lines.first ?? "")")
            }
            if let next = remaining.first {
                state = .handingOver(.xclientReply(remaining: Array(remaining.dropFirst())), completion)
                return [.sendToBackend(next)]
            }
            guard let heloLine else {
                backendExtensions = .none  // XCLIENT reset the session and nothing was replayed
                return finish(completion)
            }
            state = .handingOver(.ehloReply, completion)
            return [.sendToBackend(heloLine + [0x0D, 0x0A])]
        case .ehloReply:
            guard reply.isPositiveCompletion else {
                return abortHandover(reason: "backend refused the replayed EHLO after XCLIENT: \(reply.code)")
            }
            let replayedEHLO = heloLine.map { $0.prefix(5).asciiEqualsUppercase("EHLO ") } ?? false
            backendExtensions = replayedEHLO ? SMTPExtensions(ehloReply: reply) : .none
            return finish(completion)
        }
    }

    /// The backend is ready: answer or forward, pass on what the client pipelined, and relay.
    private mutating func finish(_ completion: Completion) -> [DialogueAction] {
        state = .finished
        var actions: [DialogueAction] = []
        // Everything the client says from now on goes through a guard, starting with what it pipelined behind
        // its authentication: the backend may trust mailtunnel's address for XCLIENT whether or not we use it.
        var relayGuard = SMTPRelayGuard(extensions: backendExtensions)
        func guarded(_ bytes: [UInt8]) -> [DialogueAction] {
            let out = relayGuard.fromClient(bytes[...])
            let replies = relayGuard.takeClientReplies()
            return (out.isEmpty ? [] : [.sendToBackend(out)]) + (replies.isEmpty ? [] : [.sendToClient(replies)])
        }
        switch completion {
        case .answer235: actions.append(.sendToClient(Array("235 2.7.0 Authentication successful\r\n".utf8)))
        case .forward(let line): actions += guarded(line)
        }
        // RFC 4954: a second AUTH after success gets 503. Pipelined AUTH lines are answered here rather
        // than handed to a backend that may still accept AUTH.
        if case .answer235 = completion {
            while case .line(let line) = peekLine(), isAUTH(line) {
                _ = clientLines.next(limit: Self.commandLineLimit)
                actions.append(.sendToClient(Array("503 5.5.1 Error: already authenticated\r\n".utf8)))
            }
        }
        let rest = clientLines.takeRemaining()
        if !rest.isEmpty { actions += guarded(rest) }
        handedOverGuard = relayGuard
        actions.append(.relay)
        return actions
    }

    private func peekLine() -> LineBuffer.Next {
        var copy = clientLines
        return copy.next(limit: Self.commandLineLimit)
    }

    private func isAUTH(_ line: [UInt8]) -> Bool {
        let verb = line.prefix { $0 != UInt8(ascii: " ") }
        return String(decoding: verb, as: UTF8.self).uppercased() == "AUTH"
    }

    /// The client would reach a backend that does not know who it is: 421 and close, whatever the client was
    /// waiting for (a 454 to AUTH would invite it to carry on in a session that is about to end).
    private mutating func abortHandover(reason: String) -> [DialogueAction] {
        state = .finished
        return [.sendToClient(Self.handoverFailed), .close(reason: reason)]
    }

    private static let handoverFailed = Array("421 4.3.0 Mail service temporarily unavailable, try again later\r\n".utf8)

    // MARK: Helpers

    private func reply(_ text: String) -> [DialogueAction] { [.sendToClient(Array((text + "\r\n").utf8))] }

    private mutating func failSession(reason: String) -> [DialogueAction] {
        state = .finished
        return [.sendToClient(MailProtocol.smtp.unavailableReply ?? []), .close(reason: reason)]
    }
}
