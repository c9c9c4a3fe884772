import MailTunnelProtocols

/// The relay's SMTP side: every byte of a relayed SMTP session passes `smtpGuard` (see SMTPRelayGuard.swift),
/// message content straight from the read buffer, commands and replies through the guard's state machine.
extension Connection {
    /// Bytes queued for the client above which the client is not read: the guard's own replies (BDAT refusals)
    /// must not pile up for a client that sends without reading. Normal relaying queues at most one read.
    private static let guardClientQueueLimit = 64 * 1024

    /// False while the guard waits for a backend reply or its replies to the client pile up.
    var guardAcceptsClientInput: Bool {
        guard let smtpGuard else { return true }
        return !smtpGuard.isHoldingClientInput && toClient.count < Self.guardClientQueueLimit
    }

    /// Client bytes just read, through the guard; false if the connection ended.
    func guardClientBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Message content and BDAT chunks the backend reads as data go on without a copy.
        let direct = smtpGuard!.passThroughPrefix(bytes)
        if direct > 0 {
            forward(UnsafeRawBufferPointer(rebasing: bytes[0..<direct]), toBackendSide: true)
            guard phase == .relaying else { return false }
        }
        if direct < bytes.count {
            let allowed = smtpGuard!.fromClient(Array(bytes[direct...])[...])
            if let failure = smtpGuard!.failure { return guardFailed(failure) }
            if !allowed.isEmpty {
                allowed.withUnsafeBytes { forward($0, toBackendSide: true) }
                guard phase == .relaying else { return false }
            }
        }
        let replies = smtpGuard!.takeClientReplies()
        if !replies.isEmpty { toClient.append(replies) }
        return true
    }

    /// Backend bytes just read, through the guard; false if the connection ended.
    func guardBackendBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let out = smtpGuard!.fromBackend(Array(bytes)[...])
        if let failure = smtpGuard!.failure { return guardFailed(failure) }
        // A reply may release client input the guard held (message content after 354, a BDAT after EHLO's reply).
        if !out.toBackend.isEmpty { toBackend.append(out.toBackend) }
        if !out.toClient.isEmpty {
            out.toClient.withUnsafeBytes { forward($0, toBackendSide: false) }
            guard phase == .relaying else { return false }
        }
        return true
    }

    /// The session can no longer be followed: tell the client, inside TLS, and close.
    private func guardFailed(_ failure: String) -> Bool {
        refuse("SMTP guard: \(failure)", reply: MailProtocol.smtp.unavailableReply)
        return false
    }
}
