/// Turns merged assignments into a listener's settings with defaults filled in, collecting every bad value.
enum ListenerBuilder {
    struct Built {
        /// The listener's settings and the process-wide values it gave.
        var draft: SettingsDraft
        /// The location of the assignment that set each key, for cross-field errors.
        var locations: [String: Assignment]
        /// Keys that were given at all, even with a bad value, so a bad `accept` is not also reported as missing.
        var givenKeys: Set<String>

        var config: ListenerConfig { draft.listener }
    }

    static func build(_ raw: RawListener) -> (Built, [ConfigError]) {
        // Required keys start as placeholders (accept port 0); a missing one is reported by the validator, never run.
        var draft = SettingsDraft(listener: ListenerConfig(
            name: raw.name, accept: OptionTable.accept.defaultValue, connect: OptionTable.connect.defaultValue))
        var locations: [String: Assignment] = [:]
        var errors: [ConfigError] = []

        for assignment in raw.assignments {
            guard let option = OptionTable.option(named: assignment.key) else {
                errors.append(ConfigError(assignment.location, key: assignment.writtenKey, "unknown key"))
                continue
            }
            do {
                // The first value given replaces the default; later ones of a repeatable key add to it.
                try option.apply(assignment.value, to: &draft, replacingDefault: locations[option.name] == nil)
                locations[option.name] = assignment
            } catch {
                errors.append(ConfigError(assignment.location, key: assignment.writtenKey, error.expected))
            }
        }
        // Derived defaults (protocol from the accept port, key from cert) are filled in so --check shows them
        // and the engine needs no fallback.
        for option in OptionTable.options where locations[option.name] == nil { option.derive?(&draft) }
        // Client mode accepts plaintext: only on loopback unless the operator names a host (or `*`).
        if draft.listener.client, draft.listener.accept.host == nil,
           !(locations["accept"]?.value.hasPrefix("*") ?? false) {
            draft.listener.accept.host = "127.0.0.1"
        }

        return (Built(draft: draft, locations: locations, givenKeys: Set(raw.assignments.map(\.key))), errors)
    }
}
