import MailTunnelProtocols

/// Bytes of an ASCII string.
func b(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Bytes of an ASCII string as the slice the dialogue API takes.
func s(_ text: String) -> ArraySlice<UInt8> { Array(text.utf8)[...] }

func toClient(_ text: String) -> DialogueAction { .sendToClient(b(text)) }
func toBackend(_ text: String) -> DialogueAction { .sendToBackend(b(text)) }

/// Feeds `input` to the client side in two calls split at `split`, returning all actions in order.
func feedClient<D: MailDialogue>(_ dialogue: inout D, _ input: [UInt8], splitAt split: Int) -> [DialogueAction] {
    dialogue.receiveFromClient(input[..<split]) + dialogue.receiveFromClient(input[split...])
}

/// Feeds `input` to the backend side in two calls split at `split`.
func feedBackend<D: MailDialogue>(_ dialogue: inout D, _ input: [UInt8], splitAt split: Int) -> [DialogueAction] {
    dialogue.receiveFromBackend(input[..<split]) + dialogue.receiveFromBackend(input[split...])
}

/// True when any action sends bytes to the backend.
func sendsToBackend(_ actions: [DialogueAction]) -> Bool {
    actions.contains { if case .sendToBackend = $0 { return true } else { return false } }
}

/// A TLS 1.2-style ClientHello record start.
let clientHelloBytes: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]

/// A small deterministic generator (xorshift64*), so fuzz runs are reproducible from their seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
}

/// Drives a dialogue with random mixes of protocol fragments and raw bytes, cut at random places, from both
/// sides, and checks the invariants every dialogue owes the engine:
/// - nothing at all happens after `.close`;
/// - between `.startTLS` and `tlsEstablished()` nothing is sent anywhere (injected plaintext is never executed,
///   backend bytes are held);
/// - every byte string sent to the backend before TLS is one complete command line, one of `allowedVerbs`.
func fuzz<D: MailDialogue>(
    _ make: () -> D, seed: UInt64, rounds: Int, clientFragments: [String], backendFragments: [String],
    allowedVerbs: [String], verbOffset: (ArraySlice<UInt8>) -> ArraySlice<UInt8>
) -> [String] {
    var rng = SeededGenerator(seed: seed)
    var problems: [String] = []
    for round in 0..<rounds {
        var dialogue = make()
        var closed = false
        var tlsPending = false
        var relaying = false
        for step in 0..<40 {
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                if Int.random(in: 0..<5, using: &rng) == 0 {
                    input += (0..<Int.random(in: 1...6, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                } else {
                    let pool = Bool.random(using: &rng) ? clientFragments : backendFragments
                    input += b(pool[Int.random(in: 0..<pool.count, using: &rng)])
                }
            }
            let actions: [DialogueAction]
            var calledTLS = false
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5: actions = dialogue.receiveFromClient(input[...])
            case 5..<9: actions = dialogue.receiveFromBackend(input[...])
            default:
                if tlsPending {
                    calledTLS = true
                    actions = dialogue.tlsEstablished()
                } else {
                    actions = dialogue.receiveFromClient(input[...])
                }
            }
            let context = "seed \(seed) round \(round) step \(step)"
            if closed && !actions.isEmpty { problems.append("\(context): actions after close") }
            let onlyClose = actions.allSatisfy { if case .close = $0 { return true } else { return false } }
            if tlsPending && !calledTLS && !onlyClose {
                problems.append("\(context): output while TLS pending: \(actions)")
            }
            for action in actions {
                switch action {
                case .sendToBackend(let bytes) where !relaying:
                    let line = bytes[...]
                    if line.last != UInt8(ascii: "\n") || line.dropLast().contains(UInt8(ascii: "\n")) {
                        problems.append("\(context): forwarded a partial or multiple line \(bytes)")
                    }
                    let verb = verbOffset(line).prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
                    if !allowedVerbs.contains(where: { String(decoding: verb, as: UTF8.self).uppercased() == $0 }) {
                        problems.append("\(context): forwarded \(String(decoding: bytes, as: UTF8.self))")
                    }
                case .startTLS: tlsPending = true
                case .relay: tlsPending = false; relaying = true
                case .close: closed = true
                default: break
                }
            }
            if closed { break }
        }
    }
    return problems
}
