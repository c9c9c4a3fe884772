/// `xclient = yes` without an auth gate: tell the backend the client's address with XCLIENT before the client's
/// own session starts, so Postfix logs and policies see the real client rather than mailtunnel.
///
/// Two entry points, because the backend's greeting is in a different place:
/// - implicit TLS: the backend's first greeting is swallowed, XCLIENT sent, and the greeting XCLIENT answers with
///   (Postfix replies to a successful XCLIENT with a fresh 220) is what the client sees;
/// - after a STARTTLS upgrade (`greeted: true`, started by `tlsEstablished()`): the client already saw a greeting,
///   so XCLIENT's fresh 220 is swallowed and the client's new EHLO meets the reset session.
/// Client bytes that arrive during the hand-over are held and pass through the relay guard afterwards.
///
/// Fails closed: a greeting other than 220, a refused XCLIENT, a malformed reply or a backend that closes gives
/// the client `421 4.3.0` and a close. Relaying anyway would let the client talk to a backend that takes it for
/// mailtunnel itself, and no held client byte is ever sent.
public struct XCLIENTHandoverDialogue: MailDialogue {
    private enum State: Sendable { case awaitingGreeting, sending(remaining: [[UInt8]]), done, failed }

    private var state: State
    private let commands: [[UInt8]]
    private let greeted: Bool
    private var replies = SMTPReplyReader()
    private var heldClientBytes: [UInt8] = []
    /// The backend's first greeting, shown to the client if XCLIENT's success reply is not a greeting itself.
    private var originalGreeting: [UInt8]?
    private var relayGuard: SMTPRelayGuard?
    private static let maxHeldClientBytes = 16 * 1024
    private static let unavailable = Array("421 4.3.0 Mail service temporarily unavailable\r\n".utf8)

    public init(commands: [[UInt8]], greeted: Bool) {
        self.commands = commands
        self.greeted = greeted
        state = greeted ? .sending(remaining: commands) : .awaitingGreeting
    }

    public mutating func tlsEstablished() -> [DialogueAction] {
        guard greeted, case .sending(let remaining) = state, let first = remaining.first else { return [] }
        state = .sending(remaining: Array(remaining.dropFirst()))
        return [.sendToBackend(first)]
    }

    public mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        heldClientBytes += bytes
        guard heldClientBytes.count <= Self.maxHeldClientBytes else {
            state = .failed
            return [.sendToClient(Array("421 4.7.0 Too much input before the greeting\r\n".utf8)),
                    .close(reason: "client sent \(heldClientBytes.count) bytes before the XCLIENT hand-over finished")]
        }
        return []
    }

    public mutating func receiveFromBackend(_ bytes: ArraySlice<UInt8>) -> [DialogueAction] {
        replies.append(bytes)
        var actions: [DialogueAction] = []
        while true {
            switch replies.next() {
            case .needMore: return actions
            case .invalid(let why):
                state = .failed
                return actions + [.sendToClient(Self.unavailable), .close(reason: "backend sent a malformed reply: \(why)")]
            case .reply(let reply):
                actions += handle(reply)
                switch state {
                case .done: return actions + handOver()
                case .failed: return actions
                default: continue
                }
            }
        }
    }

    public mutating func backendClosed() -> [DialogueAction] {
        state = .failed
        return [.sendToClient(Self.unavailable), .close(reason: "backend closed during the XCLIENT hand-over")]
    }

    public mutating func takeRelayGuard() -> SMTPRelayGuard? {
        defer { relayGuard = nil }
        return relayGuard
    }

    private mutating func handle(_ reply: SMTPReply) -> [DialogueAction] {
        switch state {
        case .awaitingGreeting:
            guard reply.code == 220 else {
                state = .failed
                let text = String(decoding: reply.bytes, as: UTF8.self).trimmingTrailingNewlines
                return [.sendToClient(Self.unavailable), .close(reason: "backend greeting was not 220: \(text)")]
            }
            guard let first = commands.first else {
                state = .done
                return [.sendToClient(reply.bytes)]
            }
            originalGreeting = reply.bytes
            state = .sending(remaining: Array(commands.dropFirst()))
            return [.sendToBackend(first)]
        case .sending(let remaining):
            guard case .accepted = XCLIENT.outcome(of: reply) else {
                state = .failed
                let text = String(decoding: reply.bytes, as: UTF8.self).trimmingTrailingNewlines
                return [.sendToClient(Self.unavailable), .close(reason: "backend refused XCLIENT: \(text)")]
            }
            if let next = remaining.first {
                state = .sending(remaining: Array(remaining.dropFirst()))
                return [.sendToBackend(next)]
            }
            state = .done
            if greeted { return [] }
            return [.sendToClient(reply.code == 220 ? reply.bytes : originalGreeting ?? reply.bytes)]
        case .done, .failed:
            return []
        }
    }

    private mutating func handOver() -> [DialogueAction] {
        // XCLIENT reset the backend's session: nothing is offered until the client's own EHLO is answered.
        var watcher = SMTPRelayGuard()
        var actions: [DialogueAction] = []
        if !heldClientBytes.isEmpty {
            actions = watcher.admit(heldClientBytes[...])
            heldClientBytes = []
        }
        relayGuard = watcher
        return actions + [.relay]
    }
}

extension String {
    fileprivate var trimmingTrailingNewlines: String {
        var text = self
        while let last = text.last, last.isNewline { text.removeLast() }
        return text
    }
}
