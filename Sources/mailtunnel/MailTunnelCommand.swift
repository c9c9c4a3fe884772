import MailTunnel

/// The executable's entry: argv goes, once and whole, to MailTunnel's one parser (`ListenerArguments`, through
/// `RunConfig.load`), which also answers `--help` and `--version`; flags, config keys, help and `--check` are
/// all derived from the option table, so they never drift apart.
@main
enum MailTunnelCommand {
    static func main() throws {
        try Launcher.main(arguments: Array(CommandLine.arguments.dropFirst()))
    }
}
