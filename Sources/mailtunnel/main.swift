import Logging
import MailTunnel
#if canImport(Glibc)
import Glibc
#endif

// Temporary flag reader until the option table lands.
var args = Array(CommandLine.arguments.dropFirst())
var accept: HostPort?
var connects: [HostPort] = []
var extra: [String: String] = [:]
func hp(_ s: String, _ def: String?) -> HostPort {
    if let i = s.lastIndex(of: ":") { var h = String(s[..<i]); if h.hasPrefix("[") { h = String(h.dropFirst().dropLast()) }; return HostPort(host: h, port: Int(s[s.index(after: i)...])!) }
    return HostPort(host: def, port: Int(s)!)
}
var i = 0
while i < args.count {
    let k = args[i]; let v = i + 1 < args.count ? args[i + 1] : ""
    switch k {
    case "--accept": accept = hp(v, nil)
    case "--connect": connects.append(hp(v, "127.0.0.1"))
    default: extra[String(k.dropFirst(2))] = v
    }
    i += 2
}
LoggingSystem.bootstrap { LineLogHandler(label: $0, level: .info) }
var config = ListenerConfig(name: accept!.description, accept: accept!, connect: connects)
if let p = extra["protocol"] { config.protocol = .init(rawValue: p)! }
config.stateDir = extra["state-dir"]
config.cert = extra["cert"]; config.key = extra["key"]
if extra["starttls"] == "yes" { config.starttls = true }
if let t = extra["handshake-timeout"] { config.handshakeTimeout = Double(t.replacingOccurrences(of: "s", with: ""))! }
try Daemon(logger: Logger(label: "mailtunnel")).run([config])
