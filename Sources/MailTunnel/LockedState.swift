#if canImport(Glibc)
import Glibc
#endif

/// A value guarded by a pthread mutex, for state shared between threads (loops, Dispatch queues, SASL workers).
/// Not `Synchronization.Mutex`: on Linux it locks with futex system calls that ThreadSanitizer cannot see, so
/// every access it guards was reported as a data race (Scripts/test-sanitizers thread), which would hide real
/// ones. An uncontended pthread mutex costs the same one atomic operation.
/// @unchecked Sendable: `value` is only touched inside `withLock`, under `mutex`.
final class LockedState<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ initial: Value) {
        value = initial
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
