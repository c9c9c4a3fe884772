#if canImport(Glibc)
import Glibc
#endif
import Logging

/// `--check` loads what the configuration names, as `nginx -t` and `haproxy -c` do: each listener's certificate,
/// key (and that they match), CA and CRL go through the same code the daemon starts with, and the SASL config
/// directory must be there. `systemctl reload` runs it first (ExecReload), so a bad file fails the reload visibly.
public enum MaterialCheck {
    /// One line per problem (`listener [imaps]: key /etc/…/key.pem does not match cert …: reason`); empty when
    /// everything loads.
    public static func problems(_ run: RunConfig) -> [String] {
        let quiet = Logger(label: "mailtunnel.check") { _ in SwiftLogNoOpLogHandler() }
        var problems: [String] = []
        for listener in run.listeners {
            // Without `cert` the daemon generates a self-signed certificate at start; --check writes nothing.
            if listener.cert != nil {
                do { _ = try TLSSetup.makeContext(listener, stateDir: run.daemon.stateDir, logger: quiet) } catch {
                    problems.append("listener [\(listener.name)]: \(error)")
                }
            }
            if listener.auth == .sasl, let directory = listener.saslConfigDir,
               let why = unreadable(directory, file: "\(directory)/\(listener.saslService).conf") {
                problems.append("listener [\(listener.name)]: sasl-config-dir \(why)")
            }
        }
        return problems
    }

    /// The directory must exist; the service's file is optional for libsasl2, but must be readable if present.
    private static func unreadable(_ directory: String, file: String) -> String? {
        var info = stat()
        guard stat(directory, &info) == 0 else { return "\(directory): \(String(cString: strerror(errno)))" }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { return "\(directory): not a directory" }
        if access(file, F_OK) == 0, access(file, R_OK) != 0 {
            return "\(file): \(String(cString: strerror(errno)))"
        }
        return nil
    }
}
