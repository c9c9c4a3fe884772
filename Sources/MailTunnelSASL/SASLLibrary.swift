#if canImport(Glibc)
import Glibc
#endif
import CMailTunnelShims
import CSASL

/// libsasl2's process-wide state: `sasl_server_init` once, and a lock around every libsasl2 call.
///
/// Why one lock for all calls: the event loops run on several threads, and libsasl2 with its plugins
/// (sasldb's database handle, auxprop lookups) is only documented thread-safe when the application
/// installs mutex callbacks; serializing is the simple safe choice, and authentication is rare next to
/// relaying.
///
/// The password check itself (`sasl_server_start`/`step`, which may wait seconds on saslauthd, PAM or LDAP) is
/// serialized under `exchangeLock` instead, so that it never holds up the quick calls (`sasl_server_new`,
/// `sasl_listmech`, `sasl_dispose`) that other connections make meanwhile; libsasl2's own shared state is guarded
/// by the real mutexes installed with `sasl_set_mutex` before initialization.
public enum SASLLibrary {
    /// Process-wide guard for every quick libsasl2 call made by `SASLServer`.
    static let lock = ProcessLock()
    /// Serializes authentication exchanges (start/step) among themselves.
    static let exchangeLock = ProcessLock()

    /// What `sasl_server_init` was called with. Read and written only under `lock`.
    /// @unchecked Sendable: all access goes through `SASLLibrary.lock`.
    private final class State: @unchecked Sendable {
        var initialized: (appName: String, configDirectory: String?)? = nil
    }
    private static let state = State()

    /// Initializes libsasl2 for this process. libsasl2 reads `<appName>.conf` (from `configDirectory`
    /// when given, else its built-in search path) once, here: its configuration is global, so a process
    /// can serve only one sasl-service / sasl-config-dir pair. Calling again with the same pair is a
    /// no-op; with a different pair it throws instead of silently using the first one.
    public static func initialize(appName: String, configDirectory: String?) throws(SASLError) {
        try lock.withLock { () throws(SASLError) in
            if let existing = state.initialized {
                guard existing.appName == appName && existing.configDirectory == configDirectory else {
                    throw SASLError(code: SASL_FAIL,
                        detail: "libsasl2 already initialized for \(existing.appName) (\(existing.configDirectory ?? "default path")); "
                            + "one sasl-service and sasl-config-dir per process")
                }
                return
            }
            // The callback table and the path string live as long as the process: libsasl2 keeps
            // pointers to both and consults them when it loads the config and the plugins.
            var callbacks: UnsafeMutablePointer<sasl_callback_t>? = nil
            if let configDirectory {
                guard let path = strdup(configDirectory) else { throw SASLError(code: SASL_NOMEM, detail: "out of memory") }
                callbacks = mt_sasl_callbacks_new(UnsafeMutableRawPointer(path), nil, { context, result in
                    // SASL_CB_GETCONFPATH: where <appName>.conf lives. The context is the strdup'ed directory.
                    guard let context, let result else { return SASL_BADPARAM }
                    result.pointee = UnsafePointer(context.assumingMemoryBound(to: CChar.self))
                    return SASL_OK
                })
                guard callbacks != nil else { throw SASLError(code: SASL_NOMEM, detail: "out of memory") }
            }
            sasl_set_mutex(mutexAlloc, mutexLock, mutexUnlock, mutexFree)
            let result = sasl_server_init(callbacks, appName)
            guard result == SASL_OK else {
                throw SASLError(code: result, detail: "sasl_server_init: " + String(cString: sasl_errstring(result, nil, nil)))
            }
            state.initialized = (appName, configDirectory)
        }
    }

    /// Whether `initialize` has succeeded in this process.
    public static var isInitialized: Bool { lock.withLock { state.initialized != nil } }
}

// libsasl2's default mutexes do nothing; these make its internal locking real.
private let mutexAlloc: @convention(c) () -> UnsafeMutableRawPointer? = {
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    pthread_mutex_init(mutex, nil)
    return UnsafeMutableRawPointer(mutex)
}
private let mutexLock: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { mutex in
    guard let mutex else { return SASL_BADPARAM }
    return pthread_mutex_lock(mutex.assumingMemoryBound(to: pthread_mutex_t.self)) == 0 ? SASL_OK : SASL_FAIL
}
private let mutexUnlock: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { mutex in
    guard let mutex else { return SASL_BADPARAM }
    return pthread_mutex_unlock(mutex.assumingMemoryBound(to: pthread_mutex_t.self)) == 0 ? SASL_OK : SASL_FAIL
}
private let mutexFree: @convention(c) (UnsafeMutableRawPointer?) -> Void = { mutex in
    guard let mutex else { return }
    let typed = mutex.assumingMemoryBound(to: pthread_mutex_t.self)
    pthread_mutex_destroy(typed)
    typed.deallocate()
}
