/// The relay guard is the SMTP profile's relay filter; the engine only sees `RelayFilter`.
extension SMTPRelayGuard: RelayFilter {
    public var endReason: String? { failure.map { "SMTP guard: \($0)" } }

    public mutating func filterClientBytes(_ bytes: ArraySlice<UInt8>) -> RelayFilterOutput {
        let allowed = fromClient(bytes)
        return RelayFilterOutput(toClient: takeClientReplies(), toBackend: allowed)
    }

    public mutating func filterBackendBytes(_ bytes: ArraySlice<UInt8>) -> RelayFilterOutput {
        let out: BackendOutput = fromBackend(bytes)
        return RelayFilterOutput(toClient: out.toClient, toBackend: out.toBackend)
    }
}

/// The SMTP dialogues hand the guard that already follows the session to the relay.
extension SMTPAuthGateDialogue {
    public mutating func takeRelayFilter() -> (any RelayFilter)? { takeRelayGuard() }

    /// Only a SASL exchange can block (saslauthd, PAM, LDAP); certificate mode decides from what it holds.
    public func mayBlock(clientBytes: ArraySlice<UInt8>) -> Bool {
        mode == .sasl && mayAuthenticate(clientBytes: clientBytes)
    }
}

extension XCLIENTHandoverDialogue {
    public mutating func takeRelayFilter() -> (any RelayFilter)? { takeRelayGuard() }
}
