import Logging
import MailTunnel
#if canImport(Glibc)
import Glibc
#endif

/// Config → run. Errors are printed the way an operator reads them (file:line: key: message) with exit 1.
enum Launcher {
    static func main(arguments: [String]) throws {
        let config: RunConfig
        do {
            config = try RunConfig.load(arguments: arguments)
        } catch {
            for problem in error.errors { printError("\(problem)") }
            exit(1)
        }
        switch config.mode {
        case .help:
            print(OptionDocs.helpText, terminator: "")
        case .version:
            print(MailTunnelVersion.string)
        case .generate(let generated):
            print(generated.text, terminator: "")
        case .check:
            print(CheckReport.render(config), terminator: "")
        case .run:
            let target = LogTarget.choose(forceStderr: config.daemon.foreground == true)
            let level = Logger.Level(rawValue: config.daemon.logLevel.rawValue) ?? .info
            LoggingSystem.bootstrap { target.makeHandler(label: $0, level: level) }
            let logger = Logger(label: "mailtunnel")
            do {
                try Daemon(logger: logger).run(config, reloadArguments: arguments)
            } catch {
                logger.critical("\(error)")
                printError("mailtunnel: \(error)")
                exit(1)
            }
        }
    }

    static func printError(_ text: String) {
        var line = Array((text + "\n").utf8)
        _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
