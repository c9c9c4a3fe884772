import CMailTunnelShims
import CSASL

/// libsasl2's process-wide state: `sasl_server_init` once, and a lock around every libsasl2 call.
///
/// Why one lock for all calls: the event loops run on several threads, and libsasl2 with its plugins
/// (sasldb's database handle, auxprop lookups) is only documented thread-safe when the application
/// installs mutex callbacks; serializing is the simple safe choice, and authentication is rare next to
/// relaying. The cost: a slow password check (saslauthd) holds the lock for its duration.
public enum SASLLibrary {
    /// Process-wide guard; also serializes every call into libsasl2 made by `SASLServer`.
    static let lock = ProcessLock()

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
