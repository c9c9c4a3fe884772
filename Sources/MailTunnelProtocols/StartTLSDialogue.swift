/// The STARTTLS pre-TLS dialogue for a listener's protocol; nil for `.none`, which has no STARTTLS.
/// (The protocol's profile decides; this spelling is kept for tests that name the protocol.)
public func makeStartTLSDialogue(for mailProtocol: MailProtocol) -> (any MailDialogue)? {
    mailProtocol.profile.makeStartTLSDialogue()
}

/// A STARTTLS dialogue (RFC 2595, RFC 3207): mailtunnel speaks the plaintext part of the session itself until the
/// client upgrades, then relays. The protocol's `Rules` parse its commands and replies; everything else is here
/// once for all three protocols:
/// - Plaintext commands are read line by line and forwarded, answered, or accepted as STARTTLS by the rules'
///   verdict. Replies leave in command order (`ReplySequencer`), and the STARTTLS answer waits until every
///   forwarded command has its reply, so no plaintext backend reply can arrive inside the TLS session.
/// - Whatever the client sent behind STARTTLS is dropped, never executed after the handshake (CVE-2011-0411).
/// - A TLS ClientHello on the plaintext port closes the session without a reply.
/// - Backend bytes that arrive during the handshake are held and delivered through TLS.
public struct StartTLSDialogue<Rules: StartTLSRules>: MailDialogue, Sendable {
    /// Longest client line accepted, terminator included.
    public static var maxLineLength: Int { Rules.maxLineLength }

    var core = StartTLSDialogueCore<Rules.Pending>(
        maxClientLineLength: Rules.maxLineLength, startTLSVerb: Rules.startTLSVerb, wording: Rules.wording)
    var rules = Rules()
    /// Set when the client chose to stay in plaintext (`starttls = optional`) and the session is relayed.
    var plaintextFilter: (any RelayFilter)?

    public init() {}

    public init(rules: Rules) { self.rules = rules }

    /// The plaintext relay's filter, after `.relay` without TLS; nil otherwise (the next stage decides).
    public mutating func takeRelayFilter() -> (any RelayFilter)? {
        defer { plaintextFilter = nil }
        return plaintextFilter
    }

    /// A session relayed without TLS skips the stages meant for after TLS.
    public var skipsLaterStages: Bool { plaintextFilter != nil }

    // MARK: MailDialogue

    /// Plaintext commands line by line until STARTTLS; then nothing until TLS is up.
    public mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        handOverPlaintext(clientInput(bytes))
    }

    private mutating func clientInput(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch core.phase {
        case .closed, .tlsRequested, .awaitingTLS:
            return []  // after STARTTLS: plaintext injected behind it, discarded
        case .plaintextRequested:
            return core.holdPlaintext(bytes)
        case .relaying:
            return bytes.isEmpty ? [] : [.sendToBackend(Array(bytes))]
        case .dialogue:
            break
        }
        if core.helloDetector.inspect(bytes) == .clientHello {
            return core.close(ClientHelloDetector.closeReason)
        }
        core.client.append(bytes)
        var out: [DialogueAction] = []
        while core.phase == .dialogue {
            if let remaining = rules.clientOctetsBeforeNextLine {
                let skipped = core.client.skip(upTo: remaining)
                rules.clientOctetsSkipped(skipped)
                if skipped < remaining { return out }
            }
            switch core.client.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + core.fatal(ascii(Rules.wording.lineTooLong), reason: "client line too long")
            case .line(let line):
                out += perform(rules.command(line), for: line)
            }
        }
        return out
    }

    /// Replies line by line until `.startTLS` has left; then held until TLS is up.
    public mutating func receiveFromBackend(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        handOverPlaintext(backendInput(bytes))
    }

    private mutating func backendInput(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        switch core.phase {
        case .closed:
            return []
        case .relaying:
            return bytes.isEmpty ? [] : [.sendToClient(Array(bytes))]
        case .awaitingTLS:
            return core.hold(bytes)
        case .dialogue, .tlsRequested, .plaintextRequested:
            break
        }
        core.backend.append(bytes)
        var out: [DialogueAction] = []
        while [.dialogue, .tlsRequested, .plaintextRequested].contains(core.phase) {
            if let remaining = rules.backendOctetsBeforeNextLine {
                let chunk = core.backend.take(upTo: remaining)
                if !chunk.isEmpty { out.append(.sendToClient(chunk)) }
                rules.backendOctetsPassed(chunk.count)
                if chunk.count < remaining { return out }
            }
            switch core.backend.next() {
            case .needMoreData:
                return out
            case .overlong:
                return out + core.close("backend line too long")
            case .line(let line):
                out += perform(rules.reply(line, awaiting: core.firstAwaiting))
            }
        }
        if core.phase == .awaitingTLS {
            out += core.hold(core.backend.takeBuffered()[...])
        }
        return out
    }

    public mutating func tlsEstablished() -> [DialogueAction] {
        core.tlsEstablished()
    }

    public mutating func backendClosed() -> [DialogueAction] {
        core.backendClosed(partialReply: rules.unsentReplyBytes)
    }

    /// When the plaintext hand-over's `.relay` is among `actions`: the held client bytes go through the rules'
    /// filter first, so the relay starts with the client's line already checked and sent.
    private mutating func handOverPlaintext(_ actions: [DialogueAction]) -> [DialogueAction] {
        guard core.phase == .plaintextRequested, let index = actions.firstIndex(of: .relay) else { return actions }
        guard var filter = rules.plaintextRelayFilter() else {
            return Array(actions[..<index]) + core.close("no relay filter for a plaintext session")
        }
        let held = core.takePlaintextHandover()
        var out = Array(actions[..<index])
        for output in [filter.filterClientBytes(held.client[...]), filter.filterBackendBytes(held.backend[...])] {
            if !output.toBackend.isEmpty { out.append(.sendToBackend(output.toBackend)) }
            if !output.toClient.isEmpty { out.append(.sendToClient(output.toClient)) }
        }
        plaintextFilter = filter
        return out + [.relay]
    }

    // MARK: Verdicts

    private mutating func perform(_ verdict: StartTLSCommandVerdict<Rules.Pending>,
                                  for line: LineReader.Line) -> [DialogueAction] {
        switch verdict {
        case .forward(let pending): return core.forward(line, awaiting: pending)
        case .answer(let reply): return core.answer(reply)
        case .startTLS(let reply): return core.acceptStartTLS(reply: reply)
        case .relayWithoutTLS: return core.acceptPlaintextRelay(line)
        case .fatal(let reply, let reason): return core.fatal(reply, reason: reason)
        case .incomplete: return []
        }
    }

    private mutating func perform(_ verdict: StartTLSReplyVerdict<Rules.Pending>) -> [DialogueAction] {
        switch verdict {
        case .pass(let sends, let completing):
            let out = sends.map { DialogueAction.sendToClient($0) }
            guard let completing else { return out }
            return out + core.completeBackend(completing)
        case .close(let reason):
            return core.close(reason)
        }
    }
}
