#if canImport(Glibc)
import Glibc
#endif
internal import CMailTunnelShims
internal import CSASL

/// libsasl2's process-wide state: `sasl_server_init` once, with real mutexes installed first.
///
/// Why no lock around the calls on a connection (`sasl_server_new`, `sasl_listmech`, `sasl_server_start`/`step`,
/// `sasl_dispose`): libsasl2 is thread-safe when the application supplies mutex functions (`sasl_set_mutex`,
/// below), makes no call before `sasl_server_init` returns, and uses each `sasl_conn_t` from one thread at a time
/// (Cyrus SASL's readme; `SASLServer` is not Sendable and one connection owns it). Its global tables (mechanisms,
/// auxprop plugins, the config) are only written during init. The password verifiers compiled into Debian's
/// libsasl2 keep their state on the stack: `saslauthd` and `authdaemond` open a socket per check; of the auxprop
/// plugins, sasldb opens its Berkeley DB per lookup (or, built with keep-db-open, shares one DB_THREAD handle),
/// sql and ldapdb connect per lookup. DIGEST-MD5's reauthentication cache and GSSAPI (with a GSS library that
/// is not thread-safe) take the library's mutexes themselves. The one verifier with static state, the legacy `pwcheck` (a static reply buffer), is not
/// built into Debian's library (no `--with-pwcheck`). So checks for different clients run in parallel on
/// `SASLWorkerPool`; a lock around them was what let one slow saslauthd check hold up every other client.
/// `lock` guards initialization (and the host name it computes) only.
public enum SASLLibrary {
    /// Guards `initialize` (libsasl2 must be initialized exactly once, before any other call).
    static let lock = ProcessLock()

    /// What `sasl_server_init` was called with. Read and written only under `lock`.
    /// @unchecked Sendable: all access goes through `SASLLibrary.lock`.
    private final class State: @unchecked Sendable {
        var initialized: (appName: String, configDirectory: String?)? = nil
        var hostName: String?
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
            // The callback table, the path string and the app name live as long as the process: libsasl2 keeps
            // pointers to them and consults them when it loads the config and the plugins.
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
            // libsasl2 keeps the appname pointer too (sasl_server_new copies it per session): a Swift string's
            // temporary C string would be freed on return (AddressSanitizer found the use after free).
            guard let name = strdup(appName) else { throw SASLError(code: SASL_NOMEM, detail: "out of memory") }
            sasl_set_mutex(mutexAlloc, mutexLock, mutexUnlock, mutexFree)
            let result = sasl_server_init(callbacks, name)
            guard result == SASL_OK else {
                throw SASLError(code: result, detail: "sasl_server_init: " + String(cString: sasl_errstring(result, nil, nil)))
            }
            state.initialized = (appName, configDirectory)
            state.hostName = ServerHostName.compute()
        }
    }

    /// This host's name as libsasl2 would compute it per session (see `ServerHostName`); nil before `initialize`.
    static var serverHostName: String? { lock.withLock { state.hostName } }

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
