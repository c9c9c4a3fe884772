import Logging
import MailTunnelTLS

/// Each listener's session-ticket key ring, by listener name, surviving reloads (as admission state does), so
/// a SIGHUP never invalidates the tickets clients hold. Used on the control queue only.
final class TicketKeyStore {
    private var rings: [String: TicketKeyRing] = [:]

    /// The listener's ring. Without a ticket-key-file it generates and rotates its own keys; with one, the keys
    /// come from `loadFiles`.
    func ring(for config: ListenerConfig) -> TicketKeyRing {
        let ring = rings[config.name] ?? TicketKeyRing()
        rings[config.name] = ring
        if config.ticketKeyFile == nil { ring.useGeneratedKeys(lifetime: .seconds(config.ticketLifetime)) }
        return ring
    }

    /// Re-reads the ticket-key file of every listener that has one and swaps its keys in whole. A file that does
    /// not load leaves that listener's keys as they were; its errors are returned (and logged).
    @discardableResult
    func loadFiles(_ configs: [ListenerConfig], logger: Logger) -> [ConfigErrors] {
        var failures: [ConfigErrors] = []
        for config in configs {
            guard let path = config.ticketKeyFile else { continue }
            do {
                let keys = try TicketKeyFile.load(path)
                ring(for: config).useFileKeys(keys, lifetime: .seconds(config.ticketLifetime))
                logger.info("ticket keys loaded", metadata: [
                    "listener": "\(config.name)", "path": "\(path)", "keys": "\(keys.count)",
                ])
            } catch {
                failures.append(error)
                logger.error("ticket keys not loaded, keeping the keys in use", metadata: [
                    "listener": "\(config.name)", "path": "\(path)", "error": "\(error)",
                ])
            }
        }
        return failures
    }
}
