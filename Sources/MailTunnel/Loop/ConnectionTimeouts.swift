/// A listener's time limits as the engine uses them, converted once from the configuration's seconds.
struct ConnectionTimeouts: Sendable {
    var handshake: Duration
    var connect: Duration
    var idle: Duration

    init(_ config: ListenerConfig) {
        handshake = .seconds(config.handshakeTimeout)
        connect = .seconds(config.connectTimeout)
        idle = .seconds(config.idleTimeout)
    }
}
