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
        case .newTicketKey:
            print(TicketKeyFile.newLine())
        case .generate(let generated):
            print(generated.text, terminator: "")
        case .check:
            for warning in config.warnings { printError("warning: \(warning)") }
            let problems = MaterialCheck.problems(config)
            for problem in problems { printError(problem) }
            if !problems.isEmpty { exit(1) }
            print(CheckReport.render(config), terminator: "")
        case .run:
            let destination = LogTarget.choose(configured: config.daemon.log,
                                               forceStderr: config.daemon.foreground == true)
            let sink: LogSink
            do { sink = try openSink(destination) } catch {
                printError("mailtunnel: \(error)")
                exit(1)
            }
            let level = Logger.Level(rawValue: config.daemon.logLevel.rawValue) ?? .info
            let format = config.daemon.logFormat
            LoggingSystem.bootstrap { _ in LogTarget.makeHandler(destination, sink: sink, format: format, level: level) }
            let logger = Logger(label: "mailtunnel")
            for warning in config.warnings {
                logger.warning("configuration warning", metadata: ["warning": "\(warning)"])
            }
            do {
                try Daemon(logger: logger, logSink: sink).run(config, reloadArguments: arguments)
            } catch {
                logger.critical("\(error)")
                printError("mailtunnel: \(error)")
                exit(1)
            }
        }
    }

    static func openSink(_ destination: LogDestination) throws(LogFileError) -> LogSink {
        if case .file(let path) = destination { return try LogSink.file(path) }
        return .standardError
    }

    static func printError(_ text: String) {
        var line = Array((text + "\n").utf8)
        _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
