import MailTunnelProtocols

/// Turns merged assignments into a `ListenerConfig` with defaults filled in, collecting every bad value.
enum ListenerBuilder {
    struct Built {
        var config: ListenerConfig
        /// The location of the assignment that set each key, for cross-field errors.
        var locations: [String: Assignment]
        /// Keys that were given at all, even with a bad value, so a bad `accept` is not also reported as missing.
        var givenKeys: Set<String>
    }

    static func build(_ raw: RawListener) -> (Built, [ConfigError]) {
        // Placeholders; port 0 marks "accept not given" and is reported below, never returned.
        var config = ListenerConfig(name: raw.name, accept: HostPort(host: nil, port: 0), connect: [])
        var locations: [String: Assignment] = [:]
        var errors: [ConfigError] = []

        for assignment in raw.assignments {
            guard let option = OptionTable.option(named: assignment.key) else {
                errors.append(ConfigError(assignment.location, key: assignment.writtenKey, "unknown key"))
                continue
            }
            do {
                try option.apply(assignment.value, to: &config)
                locations[option.name] = assignment
            } catch {
                errors.append(ConfigError(assignment.location, key: assignment.writtenKey, error.expected))
            }
        }

        if locations["protocol"] == nil { config.protocol = MailProtocol.inferred(fromPort: config.accept.port) }
        // SPEC: key defaults to cert. Filled in so --check shows it and the engine needs no fallback.
        if config.key == nil, locations["key"] == nil, let cert = config.cert { config.key = cert }
        // Filled in so a config and its --check text (which prints the list) compare equal.
        if config.acceptProxyFrom == nil { config.acceptProxyFrom = ListenerConfig.defaultAcceptProxyFrom }

        return (Built(config: config, locations: locations, givenKeys: Set(raw.assignments.map(\.key))), errors)
    }
}
