/// The gate's hand-over once the client is authenticated: XCLIENT and the replayed EHLO (when configured), then the
/// relay, with everything the client pipelined passed through a fresh `SMTPRelayGuard`.
extension SMTPAuthGateDialogue {
    // MARK: Hand-over to the backend

    mutating func succeed(user: String, completion: Completion) -> [DialogueAction] {
        authenticatedUser = user
        return handOver(login: user, policy: relayRules.policy(login: user, trusted: trusted) ?? .open,
                        completion: completion)
    }

    /// Tells the backend who the client is (`login` nil: not authenticated, no LOGIN=), then relays under `policy`.
    mutating func handOver(login: String?, policy: SMTPTransactionPolicy, completion: Completion) -> [DialogueAction] {
        handoverPolicy = policy
        guard sendXCLIENT else { return finish(completion) }
        let commands: [[UInt8]]
        do {
            commands = try XCLIENT.commands(XCLIENT.attributes(client: client, login: login))
        } catch {
            return abortHandover(reason: "cannot build XCLIENT: \(error)")
        }
        guard let first = commands.first else { return finish(completion) }
        state = .handingOver(.xclientReply(remaining: Array(commands.dropFirst())), completion)
        return [.sendToBackend(first)]
    }

    mutating func continueHandover(_ stage: HandoverStage, _ completion: Completion, reply: SMTPReply) -> [DialogueAction] {
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
    mutating func finish(_ completion: Completion) -> [DialogueAction] {
        state = .finished
        var actions: [DialogueAction] = []
        // Everything the client says from now on goes through a guard, starting with what it pipelined behind
        // its authentication: the backend may trust mailtunnel's address for XCLIENT whether or not we use it.
        var relayGuard = SMTPRelayGuard(extensions: backendExtensions, policy: handoverPolicy)
        switch completion {
        case .answer235: actions.append(.sendToClient(Array("235 2.7.0 Authentication successful\r\n".utf8)))
        case .forward(let line): actions += relayGuard.admit(line[...])
        }
        // RFC 4954: a second AUTH after success gets 503. Pipelined AUTH lines are answered here rather
        // than handed to a backend that may still accept AUTH.
        if case .answer235 = completion {
            while case .line(let line) = peekLine(), isAUTH(line.content) {
                _ = clientLines.next(maxLength: Self.commandLineLimit)
                actions.append(.sendToClient(Array("503 5.5.1 Error: already authenticated\r\n".utf8)))
            }
        }
        let rest = clientLines.takeBuffered()
        if !rest.isEmpty { actions += relayGuard.admit(rest[...]) }
        handedOverGuard = relayGuard
        actions.append(.relay)
        return actions
    }

    func peekLine() -> LineReader.Next {
        var copy = clientLines
        return copy.next(maxLength: Self.commandLineLimit)
    }

    func isAUTH(_ line: ArraySlice<UInt8>) -> Bool {
        let verb = line.prefix { $0 != UInt8(ascii: " ") }
        return String(decoding: verb, as: UTF8.self).uppercased() == "AUTH"
    }

    /// The client would reach a backend that does not know who it is: 421 and close, whatever the client was
    /// waiting for (a 454 to AUTH would invite it to carry on in a session that is about to end).
    mutating func abortHandover(reason: String) -> [DialogueAction] {
        state = .finished
        return [.sendToClient(Self.handoverFailed), .close(reason: reason)]
    }

    static let handoverFailed = Array("421 4.3.0 Mail service temporarily unavailable, try again later\r\n".utf8)
}
