import MailTunnelProtocols

/// Where a connection stands; every sub-state lives in its case. The phases follow the listener's mode:
///   implicit TLS: handshaking → connecting → [dialogue stages] → relaying
///   STARTTLS:     connecting → dialogue(startTLS) → handshaking → dialogue(startTLS) → [stages] → relaying
///   client mode:  connecting → securingServer (the upgrade dialogue, then the handshake) → relaying
/// and any phase can end in `closing` (a last reply is flushed) and then `closed`.
enum ConnectionState {
    /// Peeking at an upstream balancer's PROXY header.
    case proxyHeader
    /// The TLS handshake; after STARTTLS, the dialogue waiting to hear that TLS is up.
    case handshaking(resuming: DialogueState?)
    /// A backend's non-blocking connect is under way.
    case connecting(since: ContinuousClock.Instant)
    /// Client mode: TLS towards the server is being set up; nothing is read from the local client meanwhile.
    case securingServer(ServerUpgrade)
    /// mailtunnel speaks the protocol itself (see `ProtocolProfile`'s stages).
    case dialogue(DialogueState)
    /// Bytes flow both ways, through the profile's relay filter if it has one.
    case relaying(RelayProgress)
    /// A last reply is flushed to the client, then the connection ends for `reason`.
    case closing(EndReason, since: ContinuousClock.Instant)
    case closed
}

/// A dialogue stage and who holds its state machine.
struct DialogueState {
    let stage: SessionStage
    var machine: DialogueMachine
    /// The backend closed while the dialogue ran (told once; a closed socket keeps reading as EOF).
    var backendClosed = false
}

enum DialogueMachine {
    /// On the loop: fed with every byte either side sends.
    case running(any MailDialogue)
    /// The dialogue asked for TLS: its reply is flushed to the client, then the handshake starts. Nothing the
    /// client sent in plaintext after its STARTTLS line is ever read as a command.
    case upgrading(any MailDialogue)
    /// Lent out: a worker thread holds it (a libsasl2 call may block), or, for the length of one call, the pump
    /// feeding it (so the machine is never shared, and never copied on write). Nothing is read until it returns.
    case lent
}

/// How far each direction of the relay has got toward its end.
struct RelayProgress {
    var upstream = RelayDirection.open
    var downstream = RelayDirection.open
    /// The side that closed first names the connection's end.
    var firstClosed: EndReason?
}

enum RelayDirection {
    case open
    /// The source sent its end; it is passed on once everything before it is delivered.
    case ended
    /// The end was passed on (FIN to the backend, close_notify and FIN to the client).
    case shut
}

extension ConnectionState {
    var isClosed: Bool {
        if case .closed = self { return true }
        return false
    }

    var isRelaying: Bool {
        if case .relaying = self { return true }
        return false
    }

    var isDialogue: Bool {
        if case .dialogue = self { return true }
        return false
    }

    var isHandshaking: Bool {
        if case .handshaking = self { return true }
        return false
    }
}
