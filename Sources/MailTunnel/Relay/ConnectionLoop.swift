/// The engine's event loop: an `EpollLoop` (Loop/) running connections. Relay/ and the folders above spell
/// it `EventLoop`; Loop/ itself never names `Connection`.
typealias EventLoop = EpollLoop<Connection>

extension Connection: EventLoopClient {}
