import Dispatch

extension DispatchTimeInterval {
    /// Dispatch timers take their own interval type; this converts the daemon's `Duration`s, to the nanosecond.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        self = overflow ? .never : .nanoseconds(Int(nanoseconds + attoseconds / 1_000_000_000))
    }
}
