import MailTunnelProtocols

/// Plays a fuzz input against a STARTTLS dialogue the way the engine does, checking after every call what each
/// dialogue owes the engine:
/// - nothing happens after `.close`;
/// - between `.startTLS` and `tlsEstablished()` nothing is sent either way (plaintext injected behind STARTTLS
///   is never executed, backend bytes are held), `.close` aside;
/// - before TLS, every `sendToBackend` is exactly one complete line (one LF, at its end) whose verb is one the
///   protocol lets through in plaintext (`allowedVerbs`, after `verbOffset` skips an IMAP tag);
/// - `.startTLS` is the last action of its batch, and `.relay` only follows a completed TLS handshake.
public struct StartTLSDriver {
    public var allowedVerbs: Set<String>
    public var verbOffset: (ArraySlice<UInt8>) -> ArraySlice<UInt8>

    public init(allowedVerbs: Set<String>, verbOffset: @escaping (ArraySlice<UInt8>) -> ArraySlice<UInt8> = { $0 }) {
        self.allowedVerbs = allowedVerbs
        self.verbOffset = verbOffset
    }

    public func run(_ dialogue: inout any MailDialogue, _ input: inout FuzzInput) {
        var closed = false
        var tlsRequested = false
        var tlsUp = false
        var relaying = false
        while let step = input.nextStep() {
            let actions: [DialogueAction]
            var establishing = false
            switch step {
            case .client(let bytes): actions = dialogue.receiveFromClient(bytes)
            case .backend(let bytes): actions = dialogue.receiveFromBackend(bytes)
            case .backendClosed: actions = dialogue.backendClosed()
            case .tlsEstablished:
                // The engine only reports a handshake it was asked for.
                guard tlsRequested, !tlsUp, !closed else { continue }
                establishing = true
                tlsUp = true
                actions = dialogue.tlsEstablished()
            }
            if closed && !actions.isEmpty { violation("actions after close: \(actions)") }
            let onlyClose = actions.allSatisfy { if case .close = $0 { true } else { false } }
            if tlsRequested && !tlsUp && !establishing && !onlyClose {
                violation("output while the TLS handshake is pending: \(actions)")
            }
            for (position, action) in actions.enumerated() {
                switch action {
                case .sendToBackend(let bytes) where !tlsRequested:
                    let line = bytes[...]
                    if line.last != UInt8(ascii: "\n") || line.dropLast().contains(UInt8(ascii: "\n")) {
                        violation("forwarded a partial or several lines", bytes)
                    }
                    let verb = verbOffset(line).prefix { $0 != 0x20 && $0 != 0x0D && $0 != 0x0A }
                    if !allowedVerbs.contains(String(decoding: verb, as: UTF8.self).uppercased()) {
                        violation("forwarded a verb not allowed in plaintext", bytes)
                    }
                case .startTLS:
                    if tlsRequested { violation("second startTLS") }
                    if position != actions.count - 1 { violation("actions after startTLS in one batch: \(actions)") }
                    tlsRequested = true
                case .relay:
                    if !tlsUp { violation("relay before TLS is up") }
                    relaying = true
                case .close:
                    closed = true
                default:
                    break
                }
            }
            _ = relaying
            if closed { return }
        }
    }
}

/// IMAP commands start with a tag: the verb is the second token.
public func imapVerb(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    guard let space = line.firstIndex(of: 0x20) else { return line[line.endIndex...] }
    return line[(space + 1)...]
}
