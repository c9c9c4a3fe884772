/// How a connection ended, as far as the counters care: typed, so a reworded log reason cannot
/// silently stop a counter.
enum ConnectionOutcome: Sendable {
    case ended
    case handshakeFailed
    case backendUnavailable
    /// Over a connection or pending-authentication limit.
    case refused
}
