import MailTunnelProtocols

/// The dialogue a STARTTLS listener conducts before its client has TLS.
func makeStartTLSDialogue(for protocol: MailProtocol) -> (any MailDialogue)? {
    nil // replaced when the protocol state machines land
}
