import MailTunnelSASL

/// A value guarded by a pthread mutex (`ProcessLock`), for state shared between threads (loops, Dispatch queues,
/// SASL workers). Not `Synchronization.Mutex`: on Linux it locks with futex system calls that ThreadSanitizer
/// cannot see, so every access it guards was reported as a data race (Scripts/test-sanitizers thread), which
/// would hide real ones. An uncontended pthread mutex costs the same one atomic operation.
/// @unchecked Sendable: `value` is only touched inside `withLock`, under `lock`.
final class LockedState<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = ProcessLock()

    init(_ initial: Value) {
        value = initial
    }

    func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        try lock.withLock { () throws(E) -> Result in try body(&value) }
    }
}
