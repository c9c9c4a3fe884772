import Foundation
import Testing
@testable import MailTunnel

/// Each option's default is declared once, as a value where there is one, and `--help`, the README table and
/// `--check` all print that same declaration.
@Suite struct ConfigDefaultsRenderTests {
    /// Options whose default is a note (unset, derived or required) rather than a value to print.
    static let noValueDefault = [
        "accept", "connect", "protocol", "verify-host", "cert", "key", "ocsp-file", "ciphersuites", "ca-file", "ca-path", "crl-file",
        "allow-subject", "sasl-config-dir", "local-domains", "trusted-networks", "sender-login-map", "user", "group", "pid-file", "log", "state-dir",
        "ticket-key-file",
    ]

    static func readme() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
    }

    @Test func valueDefaultsAreExactlyTheOptionsWithAValue() {
        #expect(OptionTable.options.filter { !$0.hasValueDefault }.map(\.name) == Self.noValueDefault)
        #expect(OptionTable.options.filter(\.isRequired).map(\.name) == ["accept", "connect"])
        #expect(OptionTable.options.filter { $0.derive != nil }.map(\.name) == ["protocol", "key"])
    }

    @Test func everyDefaultRendersTheSameInHelpReadmeAndCheck() throws {
        // Help wraps descriptions onto indented lines; unwrapped, each reads "(default: TEXT)".
        let help = OptionDocs.helpText.replacingOccurrences(of: "\n      ", with: " ")
        let readme = try Self.readme()
        let run = try RunConfig.load(arguments: ["--accept", "10993", "--connect", "143", "--check"])
        let check = CheckReport.render(run).split(separator: "\n").map(String.init)
        for option in OptionTable.options {
            let text = option.defaultText
            let shown = option.isRequired ? "(required)" : "(default: \(text))"
            #expect(help.contains("  \(option.flag) \(option.syntax) \(option.help) \(shown)"),
                    "help lacks \(option.name)'s default '\(text)'")
            let row = readme.split(separator: "\n").last { $0.hasPrefix("| \(option.name) |") }  // "| key |" also heads the table
            let cell = "(\(text.replacingOccurrences(of: "|", with: "\\|")))"
            #expect(row?.contains(cell) == true, "README row of \(option.name) lacks \(cell)")
            if option.hasValueDefault {
                #expect(check.contains("\(option.name) = \(text)"), "--check does not print \(option.name) = \(text)")
            } else if option.derive == nil && !option.isRequired {
                #expect(check.contains("# \(option.name) is not set (default: \(text))"), "--check lacks \(option.name)")
            }
        }
    }

    /// The fields' starting values are the declared defaults (not a second copy in the config types).
    @Test func configStartsWithTheDeclaredDefaults() {
        let fresh = SettingsDraft(listener: ListenerConfig(name: "t", accept: HostPort(host: nil, port: 1), connect: []))
        for option in OptionTable.options where option.hasValueDefault {
            #expect(option.values(of: fresh).joined(separator: ", ") == option.defaultText, "\(option.name)")
        }
        #expect(fresh.listener.idleTimeout == OptionTable.idleTimeout.defaultValue)
        #expect(fresh.daemon.logLevel == OptionTable.logLevel.defaultValue)
    }

    @Test func helpListsCommandsExamplesAndEveryOption() {
        let help = OptionDocs.helpText
        for command in CommandFlag.allCases where !command.isHidden {
            #expect(help.contains("  --\(command.rawValue)"), "\(command)")
        }
        for example in OptionDocs.examples { #expect(help.contains("  \(example)\n")) }
        for option in OptionTable.options { #expect(help.contains("  \(option.flag) \(option.syntax)\n")) }
    }
}
