/// Time limits: the pre-relay deadline (`handshake-timeout` from accept), the backend connect, idleness, and
/// the grace a last reply gets. The loop keeps one heap entry per connection (see `DeadlineHeap`).
extension Connection {
    /// How long a last reply may take to reach a client that does not read.
    static let closingGrace = Duration.seconds(10)

    /// Everything before relaying (PROXY header, TLS handshake, STARTTLS dialogue before and after the upgrade,
    /// backend connects, the SMTP gate until AUTH and XCLIENT are through) must be done by then.
    var preRelayDeadline: ContinuousClock.Instant { startedAt + listener.timeouts.handshake }

    /// When the current phase runs out of time; nil once closed. Only phase changes can bring it earlier (they
    /// call `enter`, which re-files the connection); traffic only moves it later.
    var deadline: ContinuousClock.Instant? {
        let timeouts = listener.timeouts
        switch state {
        case .proxyHeader, .handshaking, .securingServer: return preRelayDeadline
        case .connecting(let since): return min(since + timeouts.connect, preRelayDeadline)
        case .dialogue: return min(preRelayDeadline, lastActivity + timeouts.idle)
        case .relaying: return lastActivity + timeouts.idle
        case .closing(_, let since): return since + Self.closingGrace
        case .closed: return nil
        }
    }

    /// Called by the loop when `deadline` has passed.
    func checkDeadline(now: ContinuousClock.Instant) {
        guard let deadline, now >= deadline else { return }
        switch state {
        case .proxyHeader:
            finish(.proxyHeaderTimeout)
        case .handshaking:
            finish(.handshakeTimeout)
        case .securingServer:
            refuse(.serverTLSFailed("timeout"))
        case .connecting:
            // The client gets the protocol's refusal (in plaintext or inside TLS, as the dialogue stands).
            if now >= preRelayDeadline { refuse(.handshakeTimeout) } else { backendFailed("connect timeout") }
        case .dialogue:
            if now >= preRelayDeadline { refuse(.handshakeTimeout) } else { finish(.idleTimeout) }
        case .relaying:
            finish(.idleTimeout)
        case .closing(let reason, _):
            finish(reason)
        case .closed:
            break
        }
    }
}
