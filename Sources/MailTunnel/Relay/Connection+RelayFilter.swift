import MailTunnelProtocols

/// The relay through the profile's filter (the SMTP relay guard): message content straight from the read buffer,
/// commands and replies through the filter's state machine.
extension Connection {
    /// Bytes queued for the client above which the client is not read: the filter's own replies (BDAT refusals)
    /// must not pile up for a client that sends without reading. Normal relaying queues at most one read.
    private static let filterClientQueueLimit = 64 * 1024

    /// False while the filter waits for a backend reply or its replies to the client pile up.
    var filterAcceptsClientInput: Bool {
        guard let relayFilter else { return true }
        return !relayFilter.isHoldingClientInput && toClient.count < Self.filterClientQueueLimit
    }

    /// Client bytes just read, through the filter; false if the connection ended.
    func filterClientBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // Message content and BDAT chunks the backend reads as data go on without a copy.
        let direct = relayFilter!.passThroughPrefix(bytes)
        if direct > 0 {
            forward(UnsafeRawBufferPointer(rebasing: bytes[0..<direct]), to: .backend)
            guard state.isRelaying else { return false }
        }
        var replies: [UInt8] = []
        if direct < bytes.count {
            let out = relayFilter!.filterClientBytes(Array(bytes[direct...])[...])
            if let failure = relayFilter!.endReason { return filterFailed(failure) }
            if !out.toBackend.isEmpty {
                out.toBackend.withUnsafeBytes { forward($0, to: .backend) }
                guard state.isRelaying else { return false }
            }
            replies = out.toClient
        }
        if !replies.isEmpty { toClient.append(replies) }
        return true
    }

    /// Backend bytes just read, through the filter; false if the connection ended.
    func filterBackendBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let out = relayFilter!.filterBackendBytes(Array(bytes)[...])
        if let failure = relayFilter!.endReason { return filterFailed(failure) }
        // A reply may release client input the filter held (message content after 354, a BDAT after EHLO's reply).
        if !out.toBackend.isEmpty { toBackend.append(out.toBackend) }
        if !out.toClient.isEmpty {
            out.toClient.withUnsafeBytes { forward($0, to: .client) }
            guard state.isRelaying else { return false }
        }
        return true
    }

    /// The session can no longer be followed: tell the client, inside TLS, and close.
    private func filterFailed(_ reason: String) -> Bool {
        refuse(.relayFilter(reason), reply: profile.unavailableReply)
        return false
    }
}
