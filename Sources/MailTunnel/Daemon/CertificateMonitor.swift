#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import MailTunnelTLS

/// Renewals and expiry. Each listener's certificate, key, OCSP, CA and CRL files are watched; a change reloads
/// that listener's TLS material as SIGHUP would (new handshakes get it, live sessions keep theirs). When the new
/// set does not load (a key that does not match its certificate, a half-written file) the material in use stays,
/// one line says why, and the next change is tried again. Certificates within 14 days of their not-after are
/// warned about at start and then daily. Runs on the daemon's control queue.
final class CertificateMonitor {
    static let warningWindow = 14 * 86_400
    static let checkInterval = DispatchTimeInterval.seconds(86_400)

    private let queue: DispatchQueue
    private let logger: Logger
    private let watcher: FileWatcher?
    private var watches: [ObjectIdentifier: FileWatcher.Token] = [:]
    private var expiryTimer: (any DispatchSourceTimer)?
    /// Where a generated self-signed certificate lives (from the configuration last loaded).
    var stateDir: String?
    var isStopping: () -> Bool = { false }

    /// `watcher` nil: inotify is unavailable, renewals need SIGHUP (FileWatcher logged why).
    init(queue: DispatchQueue, logger: Logger, watcher: FileWatcher?, stateDir: String?) {
        self.queue = queue
        self.logger = logger
        self.watcher = watcher
        self.stateDir = stateDir
    }

    /// Watches the listener's current files; call again whenever its runtime is replaced.
    func watch(_ listener: Listener) {
        // Client mode serves no certificate; its client certificate and CA are re-read on SIGHUP.
        guard let watcher, !listener.runtime.config.client else { return }
        let key = ObjectIdentifier(listener)
        let previous = watches[key]
        // Subscribe before cancelling, so directories watched by both keep their watch (made before the drop).
        watches[key] = watcher.watch(paths: TLSSetup.watchedPaths(listener.runtime.config)) { [weak self, weak listener] in
            guard let self, let listener else { return }
            filesChanged(listener)
        }
        if let previous { watcher.cancel(previous) }
    }

    func forget(_ listener: Listener) {
        if let token = watches.removeValue(forKey: ObjectIdentifier(listener)) { watcher?.cancel(token) }
    }

    private func filesChanged(_ listener: Listener) {
        guard !isStopping() else { return }
        let config = listener.runtime.config
        do {
            // The listener keeps its ticket keys (file or in-memory ring): a renewal must not end resumption.
            let context = try TLSSetup.makeContext(config, stateDir: stateDir,
                                                   ticketKeys: listener.runtime.tls?.ticketKeys ?? TicketKeyRing(),
                                                   logger: logger)
            listener.runtime.replaceTLS(context)
            logger.info("certificate files changed, reloaded", metadata: ["listener": "\(config.name)"])
            warnAboutExpiry(listener: config.name, context)
        } catch {
            logger.error("certificate files changed but do not load; keeping the ones in use",
                         metadata: ["listener": "\(config.name)", "error": "\(error)"])
        }
        // A renewal may have pointed a symbolic link at another file or directory.
        watch(listener)
    }

    /// Checks now, then daily.
    func startExpiryChecks(listeners: @escaping () -> [Listener]) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        timer.schedule(deadline: .now(), repeating: Self.checkInterval)
        timer.setEventHandler { [self] in
            for listener in listeners() {
                guard let context = listener.runtime.tls else { continue }
                warnAboutExpiry(listener: listener.runtime.config.name, context)
            }
        }
        timer.resume()
        expiryTimer = timer
    }

    private func warnAboutExpiry(listener: String, _ context: TLSContext) {
        let now = Int(time(nil))
        for certificate in context.certificates where certificate.notAfter - now < Self.warningWindow {
            let left = certificate.notAfter - now
            logger.warning(left > 0 ? "certificate expires soon" : "certificate has expired", metadata: [
                "listener": "\(listener)", "path": "\(certificate.path)", "subject": "\(certificate.subject)",
                "not_after": "\(certificate.notAfterText)", "days_left": "\(left / 86_400)",
            ])
        }
    }
}
