import Logging
import MailTunnelTLS

/// `--check` loads what the configuration names, as `nginx -t` and `haproxy -c` do: each listener's certificate,
/// key (and that they match), CA and CRL go through the same code the daemon starts with (the SASL config
/// directory is checked with the other keys). `systemctl reload` runs it first (ExecReload), so a bad file
/// fails the reload visibly.
public enum MaterialCheck {
    /// One line per problem (`listener [imaps]: key /etc/…/key.pem does not match cert …: reason`); empty when
    /// everything loads.
    public static func problems(_ run: RunConfig) -> [String] {
        let quiet = Logger(label: "mailtunnel.check") { _ in SwiftLogNoOpLogHandler() }
        var problems: [String] = []
        for listener in run.listeners {
            do {
                if listener.client {
                    _ = try ServerTLSSetup.makeContext(listener)   // the trust store and the client certificate
                } else if listener.cert != nil {
                    // Without `cert` the daemon generates a self-signed certificate at start; --check writes nothing.
                    _ = try TLSSetup.makeContext(listener, stateDir: run.daemon.stateDir, ticketKeys: TicketKeyRing(),
                                                  logger: quiet)
                }
            } catch {
                problems.append("listener [\(listener.name)]: \(error)")
            }
        }
        return problems
    }
}
