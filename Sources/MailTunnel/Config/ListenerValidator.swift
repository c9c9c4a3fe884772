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
        if built.locations["key"] != nil && config.cert == nil {
            fail("key", "key without cert; give cert too (or neither, for a generated self-signed certificate)")
        }

        for (key, path) in [("cert", config.cert), ("key", config.key), ("ca-file", config.caFile), ("crl-file", config.crlFile),
                            ("sender-login-map", config.senderLoginMap)] {
            guard let path, built.locations[key] != nil else { continue }
            // A reload after a privilege drop may no longer read a root-only cert or key: the copy kept from the
            // start is used then (KeyFiles), so only a file never read before must be readable now.
            if let problem = unreadableFile(path), !(["cert", "key"].contains(key) && KeyFiles.shared.hasCopy(path)) {
                fail(key, problem)
            }
        }
        for (key, path) in [("ca-path", config.caPath), ("sasl-config-dir", config.saslConfigDir)] {
            guard let path else { continue }
            if let problem = unreadableDirectory(path) { fail(key, problem) }
        }
        return errors
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
