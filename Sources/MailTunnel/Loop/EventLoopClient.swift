/// What an `EpollLoop` runs: an object that owns descriptors registered with the loop, has one deadline at a
/// time, and does its work when the loop calls it. The engine's client is `Connection`.
/// (`SendableMetatype`: the loop thread is started from another thread, and its closure carries the type.)
protocol EventLoopClient: DeadlineHolder, SendableMetatype where Instant == ContinuousClock.Instant {
    /// Position in the loop's list of live clients, or -1 once released. Written only by the loop.
    var slot: Int { get set }
    /// When the client's current phase runs out of time (the loop's clock); nil when nothing can time it out.
    var deadline: ContinuousClock.Instant? { get }
    /// One of the client's descriptors is ready.
    func handle(fd: Int32, readiness: Readiness)
    /// Continue work the client put off with `deferWork` (fairness between busy clients).
    func advance()
    /// The deadline has passed (or moved on: the client checks which).
    func checkDeadline(now: ContinuousClock.Instant)
}
