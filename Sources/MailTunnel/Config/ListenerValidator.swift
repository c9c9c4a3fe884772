#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MailTunnelProtocols
import MailTunnelTLS

/// Rules that involve more than one key of a listener, plus whether named files can be read now
/// (so a typo fails at start-up or `--check`, not at the first TLS handshake).
///
/// Choices the SPEC leaves open:
/// - `verify = optional` also needs ca-file or ca-path: a certificate cannot be verified without trust anchors.
/// - `auth = certificate` needs `verify` optional or require, and `allow-subject` needs `verify` not none,
///   since both would otherwise silently admit nobody (or everybody).
/// - client mode (`client = yes`) always verifies the server, so the server-mode keys about client
///   certificates and the SMTP gate (`verify`, `allow-subject`, `crl-file`, `auth`, `xclient`, `proxy-protocol`)
///   are errors there rather than silently meaning something else; `verify-host` is for client mode only.
/// - `xclient` is smtp only, like `auth`; `sasl-service`/`sasl-config-dir` are accepted anywhere but only used by smtp.
enum ListenerValidator {
    static func validate(_ built: ListenerBuilder.Built, declaredAt origin: ConfigLocation) -> [ConfigError] {
        let config = built.config
        var errors: [ConfigError] = []

        func fail(_ key: String, _ message: String) {
            let assignment = built.locations[key]
            errors.append(ConfigError(assignment?.location ?? origin, key: assignment?.writtenKey ?? key, message))
        }

        for option in OptionTable.options where option.isRequired && !built.givenKeys.contains(option.name) {
            errors.append(ConfigError(origin, key: option.name, "missing; every listener needs \(option.name) = \(option.syntax)"))
        }
        if config.usesStartTLS && config.protocol == .none {
            fail("starttls", "starttls = \(config.starttls.rawValue) needs protocol imap, pop3 or smtp (protocol is none"
                 + (built.locations["protocol"] == nil ? ", inferred from accept port \(config.accept.port))" : ")"))
        }
        if config.auth != .none && !config.protocol.profile.supportsAuthGate {
            fail("auth", "auth = \(config.auth.rawValue) is only for smtp listeners (protocol is \(config.protocol.rawValue))")
        }
        if config.xclient && !config.protocol.profile.supportsXCLIENT {
            fail("xclient", "xclient = yes is only for smtp listeners (protocol is \(config.protocol.rawValue))")
        }
        validateRelayRules(config, fail: fail)
        if config.verify != .none && config.caFile == nil && config.caPath == nil {
            fail("verify", "verify = \(config.verify.rawValue) needs ca-file or ca-path to check client certificates against")
        }
        if config.auth == .certificate && config.verify == .none {
            fail("auth", "auth = certificate needs verify = optional or require")
        }
        if !config.allowSubject.isEmpty && config.verify == .none {
            fail("allow-subject", "allow-subject needs verify = optional or require")
        }
        checkClientMode(config, fail: fail)
        if built.locations["key"] != nil && config.cert == nil {
            fail("key", "key without cert; give cert too (or neither, for a generated self-signed certificate)")
        } else if built.locations["key"] != nil && config.keys.count != config.certs.count {
            fail("key", "\(config.keys.count) key line(s) for \(config.certs.count) cert line(s); they pair in order, "
                 + "so give one key per cert (or none when each cert file holds its key)")
        }
        if config.ocspFiles.count > config.certs.count {
            fail("ocsp-file", "\(config.ocspFiles.count) ocsp-file line(s) for \(config.certs.count) cert line(s); "
                 + "each pairs with the cert in the same position")
        }

        let files = config.certs.map { ("cert", $0) } + config.keys.map { ("key", $0) } + config.ocspFiles.map { ("ocsp-file", $0) }
            + [("ca-file", config.caFile), ("crl-file", config.crlFile), ("sender-login-map", config.senderLoginMap)].compactMap { key, path in path.map { (key, $0) } }
        for (key, path) in files where built.locations[key] != nil {
            // A reload after a privilege drop may no longer read a root-only cert or key: the copy kept from the
            // start is used then (KeyFiles), so only a file never read before must be readable now.
            if let problem = unreadableFile(path), !(["cert", "key", "ocsp-file"].contains(key) && KeyFiles.shared.hasCopy(path)) {
                fail(key, problem)
            }
        }
        if let path = config.ticketKeyFile {
            do {
                _ = try TicketKeyFile.load(path, from: built.locations["ticket-key-file"]?.location ?? origin)
            } catch {
                errors += error.errors
            }
        }
        for (key, path) in [("ca-path", config.caPath), ("sasl-config-dir", config.saslConfigDir)] {
            guard let path else { continue }
            if let problem = unreadableDirectory(path) { fail(key, problem) }
        }
        return errors
    }

    private static func checkClientMode(_ config: ListenerConfig, fail: (String, String) -> Void) {
        guard config.client else {
            if config.verifyHost != nil { fail("verify-host", "verify-host is for client mode (client = yes)") }
            return
        }
        let serverOnly: [(String, Bool)] = [
            ("verify", config.verify != .none), ("allow-subject", !config.allowSubject.isEmpty),
            ("crl-file", config.crlFile != nil), ("auth", config.auth != .none), ("xclient", config.xclient),
            ("proxy-protocol", config.proxyProtocol != .none), ("ocsp-file", !config.ocspFiles.isEmpty),
        ]
        if config.starttls == .optional {
            fail("starttls", "starttls = optional is for a server-side SMTP listener; client mode upgrades with "
                 + "starttls = yes or connects with implicit TLS")
        }
        if config.certs.count > 1 {
            fail("cert", "client mode presents one client certificate; cert is given \(config.certs.count) times")
        }
        for (key, given) in serverOnly where given {
            fail(key, "\(key) is for server mode; with client = yes the server's certificate is always verified "
                 + "(ca-file/ca-path or the system store, and verify-host)")
        }
    }

    /// The main relay's keys (`starttls = optional`, `local-domains`, `trusted-networks`, `sender-login-map`):
    /// - `starttls = optional` is for SMTP only: RFC 3207 section 4 forbids a public MX to require TLS, while an
    ///   IMAP or POP3 client that cannot upgrade should be told so (`starttls = yes`), not served in plaintext.
    ///   With `xclient = yes` it is refused too: a session that stays plaintext skips the after-TLS hand-over, so
    ///   the backend would not learn the client's address.
    /// - `local-domains`, `trusted-networks` and `sender-login-map` refine the gate, so they need `auth = sasl` or
    ///   `certificate` (without a gate every client relays anyway).
    static func validateRelayRules(_ config: ListenerConfig, fail: (String, String) -> Void) {
        if config.starttls == .optional && config.protocol != .smtp {
            fail("starttls", "starttls = optional is for smtp listeners (protocol is \(config.protocol.rawValue)); "
                 + "IMAP and POP3 clients use starttls = yes")
        }
        if config.starttls == .optional && config.xclient {
            fail("starttls", "starttls = optional cannot be combined with xclient = yes (a client that stays in "
                 + "plaintext is relayed without the XCLIENT hand-over)")
        }
        for (key, given) in [("local-domains", !config.localDomains.isEmpty),
                             ("trusted-networks", !config.trustedNetworks.isEmpty),
                             ("sender-login-map", config.senderLoginMap != nil)] where given && config.auth == .none {
            fail(key, "\(key) needs auth = sasl or certificate (without the gate every client relays)")
        }
        if config.senderLoginMap != nil, unreadableFile(config.senderLoginMap ?? "") == nil {
            do {
                _ = try config.loadRelayRules()
            } catch {
                fail("sender-login-map", error.description)
            }
        }
    }

    static func unreadableFile(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            // fileExists is also false when a parent directory cannot be searched: say which it is.
            var info = stat()
            if stat(path, &info) != 0 && errno != ENOENT {
                return "expected a readable file, cannot read '\(path)': \(String(cString: strerror(errno)))"
            }
            return "expected a readable file, '\(path)' does not exist"
        }
        if isDirectory.boolValue { return "expected a file, '\(path)' is a directory" }
        if !FileManager.default.isReadableFile(atPath: path) { return "expected a readable file, cannot read '\(path)'" }
        return nil
    }

    static func unreadableDirectory(_ path: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
            return "expected a directory, '\(path)' is not one"
        }
        if !FileManager.default.isReadableFile(atPath: path) { return "expected a readable directory, cannot read '\(path)'" }
        return nil
    }
}
