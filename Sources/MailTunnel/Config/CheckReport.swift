/// `--check` output: every effective listener with every key, in native config syntax,
/// so the text can be pasted back as a config file (which is also how a stunnel.conf is migrated).
///
/// Process-wide keys come first, before any section, where the native format applies them to every listener.
/// Keys with no value (cert when a self-signed certificate is generated, ca-file, ...) are printed as comments
/// so every key is visible yet pasting back leaves them unset.
public enum CheckReport {
    public static func render(_ run: RunConfig) -> String {
        var lines: [String] = []
        let count = run.listeners.count
        lines.append("# mailtunnel \(MailTunnelVersion.string) --check: configuration is valid, "
                     + "\(count) listener\(count == 1 ? "" : "s")")
        if let foreground = run.daemon.foreground {
            lines.append("# from stunnel: foreground = \(foreground ? "yes" : "no"); mailtunnel always runs in the "
                         + "foreground (use systemd to daemonize)")
        }
        for warning in run.warnings { lines.append("# warning: \(warning)") }
        lines.append("")
        if let first = run.listeners.first {
            lines.append("# process-wide")
            lines += keyLines(SettingsDraft(listener: first, daemon: run.daemon), scope: .daemon)
        }
        for listener in run.listeners {
            lines.append("")
            lines.append("[\(listener.name)]")
            lines += keyLines(SettingsDraft(listener: listener, daemon: run.daemon), scope: .listener)
            lines += CertificateReport.lines(listener)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func keyLines(_ settings: SettingsDraft, scope: OptionScope) -> [String] {
        var lines: [String] = []
        for option in OptionTable.options where option.scope == scope {
            let values = option.values(of: settings)
            if values.isEmpty {
                lines.append("# \(option.name) is not set (default: \(option.defaultText))")
            } else {
                lines += values.map { "\(option.name) = \($0)" }
            }
        }
        return lines
    }
}
