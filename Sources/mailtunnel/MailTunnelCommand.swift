import ArgumentParser
import Logging
import MailTunnel
#if canImport(Glibc)
import Glibc
#endif

/// The command line's shell: ArgumentParser gives `--help` and `--version`; every listener option is declared
/// once in MailTunnel's option table and parsed there, so flags, config keys and `--check` never drift apart.
@main
struct MailTunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailtunnel",
        abstract: "TLS for mail servers that lack it: implicit TLS, STARTTLS, client certificates, an SMTP auth gate.",
        usage: """
            mailtunnel --accept [HOST:]PORT --connect [HOST:]PORT [options]
            mailtunnel --config FILE [--config FILE ...]
            mailtunnel --stunnel-config FILE
            mailtunnel --check --config FILE
            """,
        discussion: """
            Examples:
              mailtunnel --accept 993 --connect 143
              mailtunnel --accept 995 --connect 110 --cert mail.pem --key mail.key
              mailtunnel --accept 587 --connect 25 --starttls yes --auth sasl --xclient yes
              mailtunnel --accept [::]:993 --connect 10.0.0.5:143 --connect 10.0.0.6:143
              mailtunnel --config /etc/mailtunnel/imaps.conf
              mailtunnel --check --stunnel-config /etc/stunnel/stunnel.conf

            \(MailTunnelOptionsHelp.text)
            """,
        version: MailTunnelVersion.string
    )

    @Option(name: .customLong("config"), help: "A config file with one or more listeners (repeatable).")
    var configFiles: [String] = []

    @Option(name: .customLong("stunnel-config"), help: "An existing stunnel.conf; its mail services are run.")
    var stunnelConfigFiles: [String] = []

    @Flag(name: .customLong("check"), help: "Validate, print the effective listeners, exit 0 (valid) or 1.")
    var check = false

    @Argument(parsing: .allUnrecognized, help: .hidden)
    var listenerOptions: [String] = []

    func run() throws {
        var arguments = listenerOptions
        for file in configFiles { arguments += ["--config", file] }
        for file in stunnelConfigFiles { arguments += ["--stunnel-config", file] }
        if check { arguments.append("--check") }
        try Launcher.main(arguments: arguments)
    }
}
