/// What a protocol dialogue asks the engine to do. The engine performs the actions in order.
public enum DialogueAction: Equatable, Sendable {
    /// Write these bytes to the client (through TLS once TLS is up).
    case sendToClient([UInt8])
    /// Write these bytes to the backend.
    case sendToBackend([UInt8])
    /// Flush pending client writes, forget every client byte not yet consumed, then run the TLS handshake.
    /// The dialogue already dropped whatever the client sent after the STARTTLS/STLS line.
    case startTLS
    /// The dialogue is done: from now on bytes are relayed untouched in both directions.
    case relay
    /// Flush pending client writes, then close both sides. The reason goes into the connection's log line.
    case close(reason: String)
}

/// A mail dialogue conducted by mailtunnel itself (STARTTLS pre-TLS phase, SMTP auth gate, XCLIENT hand-over).
/// Pure: no I/O, no OpenSSL. The engine feeds it bytes and performs the returned actions.
public protocol MailDialogue {
    /// Bytes the backend sent (its greeting, replies to forwarded commands).
    mutating func receiveFromBackend(_ bytes: ArraySlice<UInt8>) -> [DialogueAction]
    /// Bytes the client sent (plaintext before STARTTLS, decrypted after).
    mutating func receiveFromClient(_ bytes: ArraySlice<UInt8>) -> [DialogueAction]
    /// The TLS handshake the dialogue asked for has completed.
    mutating func tlsEstablished() -> [DialogueAction]
    /// The backend closed its side while the dialogue was active.
    mutating func backendClosed() -> [DialogueAction]
    /// Who the client proved to be, for logs and the backend (the SMTP auth gate); nil for other dialogues.
    var authenticatedUser: String? { get }
    /// Authentication attempts that failed on this connection.
    var failures: Int { get }
    /// After `.relay`: the filter that must watch the rest of the session (it already saw the commands the
    /// dialogue passed on and knows what the backend offered), or nil to let the engine ask the profile for one.
    mutating func takeRelayFilter() -> (any RelayFilter)?
    /// Whether taking these client bytes (none: a backend reply, which may release held client lines) may block
    /// the thread (a credential check); the engine then hands the dialogue and the input to a worker.
    func mayBlock(clientBytes: ArraySlice<UInt8>) -> Bool
    /// After `.relay`: relay now, without the stages that would follow (a client that stayed in plaintext on a
    /// `starttls = optional` listener never meets the after-TLS auth gate).
    var skipsLaterStages: Bool { get }
}

extension MailDialogue {
    public var authenticatedUser: String? { nil }
    public var failures: Int { 0 }
    public mutating func takeRelayFilter() -> (any RelayFilter)? { nil }
    public func mayBlock(clientBytes: ArraySlice<UInt8>) -> Bool { false }
    public var skipsLaterStages: Bool { false }
}
