import CMailTunnelLinux
import Foundation
import Testing

/// Runs a check as user nobody, also when the tests run as root (as CI does): on a thread of its own whose
/// uids alone are changed (the raw setresuid system call is per thread), so no other test runs with them and
/// the thread's ids end with it.
enum UnprivilegedThread {
    struct Failed: Error { let errno: Int32 }

    static let nobody: uid_t = 65534

    static func run<T: Sendable>(_ body: @escaping @Sendable () -> T) throws -> T {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            // Saved uid stays 0 only when we are root; either way real and effective ids become nobody's.
            if getuid() == 0 && mt_linux_thread_setresuid(nobody, nobody, 0) != 0 {
                box.value = .failure(Failed(errno: errno))
            } else {
                box.value = .success(body())
            }
            done.signal()
        }
        thread.start()
        done.wait()
        return try box.value!.get()
    }

    private final class ResultBox<T: Sendable>: @unchecked Sendable {
        var value: Result<T, any Error>?    // written by the thread before it signals, read after the wait
    }
}
