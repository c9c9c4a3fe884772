/// The STARTTLS pre-TLS dialogue for a listener's protocol; nil for `.none`, which has no STARTTLS.
public func makeStartTLSDialogue(for mailProtocol: MailProtocol) -> (any MailDialogue)? {
    switch mailProtocol {
    case .imap: return IMAPStartTLSDialogue()
    case .pop3: return POP3StartTLSDialogue()
    case .smtp: return SMTPStartTLSDialogue()
    case .none: return nil
    }
}

// MARK: - Pieces shared by the three dialogues

/// Where a STARTTLS dialogue stands. Every dialogue moves strictly forward through these.
enum StartTLSPhase: Equatable, Sendable {
    /// Plaintext commands are being read and answered or forwarded.
    case dialogue
    /// STARTTLS was accepted but its answer waits behind forwarded commands; client input is discarded.
    case tlsRequested
    /// `.startTLS` was returned; waiting for `tlsEstablished()`. Client input is discarded.
    case awaitingTLS
    /// `.relay` was returned. Should the engine keep feeding bytes, they are passed through untouched.
    case relaying
    case closed
}

/// Keeps replies in the order the client sent its commands.
///
/// Why: commands are handled as soon as their line is complete (pipelining), but some are forwarded and answered
/// later by the backend while others are answered by us at once. SMTP and POP3 replies carry no tag, so the
/// client matches them by order; and the STARTTLS answer must not overtake a backend reply, or that reply would
/// arrive inside the TLS session. So each command gets an entry; our own answers wait behind any earlier
/// forwarded command. `Pending` is what a dialogue needs to recognise the end of a backend reply (an IMAP tag,
/// the POP3/SMTP reply kind).
struct ReplySequencer<Pending: Sendable>: Sendable {
    private enum Entry: Sendable {
        case backend(Pending)
        case local([DialogueAction])
    }

    private var entries: [Entry] = []

    /// Number of commands not yet answered.
    var count: Int { entries.count }

    /// The oldest forwarded command still waiting for the backend.
    var firstAwaiting: Pending? {
        for entry in entries {
            if case .backend(let pending) = entry { return pending }
        }
        return nil
    }

    mutating func enqueueBackend(_ pending: Pending) {
        entries.append(.backend(pending))
    }

    /// Our own answer: returned now when nothing is ahead of it, else held.
    mutating func enqueueLocal(_ actions: [DialogueAction]) -> [DialogueAction] {
        if entries.isEmpty { return actions }
        entries.append(.local(actions))
        return []
    }

    /// Marks the first awaiting entry matching `matches` as answered; returns the held answers now due.
    mutating func completeBackend(where matches: (Pending) -> Bool) -> [DialogueAction] {
        guard let index = entries.firstIndex(where: { entry in
            if case .backend(let pending) = entry { return matches(pending) }
            return false
        }) else { return [] }
        entries.remove(at: index)
        var due: [DialogueAction] = []
        while let first = entries.first, case .local(let actions) = first {
            due += actions
            entries.removeFirst()
        }
        return due
    }
}

/// Recognises a TLS ClientHello sent to a plaintext STARTTLS port (a client configured for implicit TLS).
///
/// Why only the first two bytes: a TLS record starts with content type 0x16 (handshake) and major version 0x03;
/// no IMAP tag, POP3 or SMTP verb starts with a control byte, so this cannot misfire on a real command. Answering
/// such a client in plaintext would only feed garbage to its TLS stack, so the dialogue closes without a reply.
struct ClientHelloDetector: Sendable {
    enum Verdict: Equatable, Sendable { case undecided, clientHello, plaintext }

    private var state: Verdict = .undecided
    private var sawHandshakeByte = false

    mutating func inspect(_ bytes: ArraySlice<UInt8>) -> Verdict {
        guard state == .undecided else { return state }
        for byte in bytes {
            if sawHandshakeByte {
                state = byte == 0x03 ? .clientHello : .plaintext
                return state
            }
            guard byte == 0x16 else {
                state = .plaintext
                return state
            }
            sawHandshakeByte = true
        }
        return state
    }

    static let closeReason = "TLS ClientHello on a STARTTLS port"
}

/// How many commands may wait for an answer before the client is considered abusive. Bounds the memory held for
/// answers queued behind a slow backend; real clients pipeline a handful of commands before TLS at most.
let maxPendingCommands = 64

/// Longest line accepted from the backend. Generous (capability lists can be long) but bounded.
let maxBackendLineLength = 65_536

/// Most bytes the backend may send between our `.startTLS` and `tlsEstablished()`; they are held and delivered
/// through TLS. A well-behaved backend sends nothing then, so this only bounds a misbehaving one.
let maxHeldBackendBytes = 65_536

extension UInt8 {
    var asciiUppercased: UInt8 {
        self >= UInt8(ascii: "a") && self <= UInt8(ascii: "z") ? self - 32 : self
    }
}

extension Collection where Element == UInt8 {
    /// Case-insensitive ASCII comparison with an uppercase literal.
    func asciiEqualsUppercase(_ upper: String) -> Bool {
        count == upper.utf8.count && asciiHasUppercasePrefix(upper)
    }

    /// Case-insensitive ASCII prefix test against an uppercase literal.
    func asciiHasUppercasePrefix(_ upper: String) -> Bool {
        guard count >= upper.utf8.count else { return false }
        return zip(self, upper.utf8).allSatisfy { $0.asciiUppercased == $1 }
    }

    var isBlankASCII: Bool {
        allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
    }
}

/// Splits a command line into its first word and the rest (after one space), as SMTP, POP3 and IMAP all do.
func splitFirstWord(_ line: ArraySlice<UInt8>) -> (word: ArraySlice<UInt8>, rest: ArraySlice<UInt8>?) {
    guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return (line, nil) }
    return (line[line.startIndex..<space], line[(space + 1)...])
}

func ascii(_ text: String) -> [UInt8] { Array(text.utf8) }
