import Foundation
import MailTunnelProtocols

/// The SMTP gate's relay rules from a listener's keys: `local-domains` as given and the `sender-login-map` file,
/// read whenever the listener's runtime is built (at start and on every SIGHUP), so editing the map and
/// reloading takes effect for new connections.
extension ListenerConfig {
    func loadRelayRules() throws(RelayRulesError) -> SMTPRelayRules {
        let domains: LocalDomains?
        do {
            domains = localDomains.isEmpty ? nil : try LocalDomains(localDomains)
        } catch {
            throw RelayRulesError("local-domains: '\(error.entry)' is not a domain")
        }
        var logins: SenderLoginMap?
        if let path = senderLoginMap {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RelayRulesError("sender-login-map: cannot read '\(path)'")
            }
            do {
                logins = try SenderLoginMap(text: String(decoding: data, as: UTF8.self))
            } catch {
                throw RelayRulesError("sender-login-map: \(path) \(error)")
            }
        }
        return SMTPRelayRules(authenticationRequired: auth != .none, localDomains: domains, senderLogins: logins)
    }
}

public struct RelayRulesError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
