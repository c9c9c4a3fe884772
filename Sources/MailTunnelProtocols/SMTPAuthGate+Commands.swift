/// The gate's SMTP session before authentication: the backend's greeting and EHLO reply (rewritten
/// to offer the gate's AUTH), and the client's commands, one at a time.
extension SMTPAuthGateDialogue {
    // MARK: Backend replies

    mutating func handleBackendReply(_ reply: SMTPReply) -> [DialogueAction] {
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
    func rewriteEHLO(_ reply: SMTPReply) -> SMTPReply {
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

    mutating func processClient() -> [DialogueAction] {
        var actions: [DialogueAction] = []
        while true {
            let limit: Int
            switch state {
            case .ready: limit = Self.commandLineLimit
            case .exchanging, .awaitingFinalAck: limit = Self.saslResponseLimit
            case .awaitingGreeting, .awaitingHeloReply, .handingOver, .finished: return actions
            }
            switch clientLines.next(maxLength: limit) {
            case .needMoreData: return actions
            case .overlong:
                state = .finished
                return actions + [.sendToClient(Array("500 5.5.6 Line too long\r\n".utf8)),
                                  .close(reason: "client line longer than \(limit) bytes in the SMTP auth gate")]
            case .line(let received):
                let line = Array(received.content)
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

    mutating func handleCommand(_ line: [UInt8]) -> [DialogueAction] {
        let words = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        let verb = words.first.map { String(decoding: $0, as: UTF8.self).uppercased() } ?? ""
        switch verb {
        case "EHLO", "HELO":
            // The backend gets a line the gate wrote itself: the client's words joined by single spaces, and no
            // control byte anywhere (a bare CR splits a line for some MTAs), so it can only read one EHLO/HELO.
            guard words.count >= 2, !line.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
                return reply("501 5.5.4 Syntax: \(verb) hostname")
            }
            let canonical = Array(words.joined(separator: [UInt8(ascii: " ")]))
            state = .awaitingHeloReply(isEHLO: verb == "EHLO", line: canonical)
            return [.sendToBackend(canonical + [0x0D, 0x0A])]
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
            // A trusted network relays without AUTH; with local-domains anyone may deliver there. The relay
            // guard holds the session to its policy from this first command on.
            if let policy = relayRules.policy(login: nil, trusted: trusted) {
                return handOver(login: nil, policy: policy, completion: .forward(line + [0x0D, 0x0A]))
            }
            return reply("530 5.7.0 Authentication required")
        }
    }
}
