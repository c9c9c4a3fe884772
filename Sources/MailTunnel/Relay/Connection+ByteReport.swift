/// Byte counters that move while a connection lives, without a shared write per read on the relay's hot path.
///
/// Each connection keeps what it relayed but has not reported (`bytesIn - reportedIn`: plain integers its loop
/// owns) and hands it to the listener's counters at most once per relay wake-up, and only once 64 KiB have
/// gathered or 100 ms have passed since the last report (by the loop's cached `now`: no clock call). A report is
/// an atomic add on a counter every loop shares; once per read it would bounce that cache line between cores at
/// every 16 KiB, batched it is a few adds a second per busy connection, and a scrape lags by at most 100 ms or
/// 64 KiB per busy connection. (Per-loop atomics summed at scrape time would be cheaper still but need a pull
/// hook swift-metrics counters do not have.) A connection that goes quiet reports the rest at its next wake-up
/// or when it ends.
extension Connection {
    static let byteReportBatch = 64 * 1024
    static let byteReportInterval = Duration.milliseconds(100)

    func reportRelayedBytesIfDue() {
        let pending = (bytesIn - reportedIn) + (bytesOut - reportedOut)
        guard pending > 0, pending >= Self.byteReportBatch || loop.now - reportedAt >= Self.byteReportInterval
        else { return }
        reportRelayedBytes()
    }

    func reportRelayedBytes() {
        listener.stats.relayed(bytesIn: bytesIn - reportedIn, bytesOut: bytesOut - reportedOut)
        reportedIn = bytesIn
        reportedOut = bytesOut
        reportedAt = loop.now
    }
}
