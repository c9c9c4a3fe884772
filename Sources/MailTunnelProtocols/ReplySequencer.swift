/// Keeps replies in the order the client sent its commands.
///
/// Why: commands are handled as soon as their line is complete (pipelining), but some are forwarded and answered
/// later by the backend while others are answered by us at once. SMTP and POP3 replies carry no tag, so the
/// client matches them by order; and the STARTTLS answer must not overtake a backend reply, or that reply would
/// arrive inside the TLS session. So each command gets an entry; our own answers wait behind any earlier
/// forwarded command. `Pending` is what a dialogue needs to recognise the end of a backend reply (an IMAP tag,
/// the POP3/SMTP reply kind).
struct ReplySequencer<Pending: Equatable & Sendable>: Sendable {
    private enum Entry: Sendable {
        case backend(Pending)
        case local([DialogueAction])
    }

    private var entries: [Entry] = []

    /// Number of commands not yet answered.
    var count: Int { entries.count }

    /// The oldest forwarded command still waiting for the backend.
    var firstAwaiting: Pending? {
        for entry in entries {
            if case .backend(let pending) = entry { return pending }
        }
        return nil
    }

    mutating func enqueueBackend(_ pending: Pending) {
        entries.append(.backend(pending))
    }

    /// Our own answer: returned now when nothing is ahead of it, else held.
    mutating func enqueueLocal(_ actions: [DialogueAction]) -> [DialogueAction] {
        if entries.isEmpty { return actions }
        entries.append(.local(actions))
        return []
    }

    /// Marks the first entry awaiting `pending` as answered; returns the held answers now due.
    mutating func completeBackend(_ pending: Pending) -> [DialogueAction] {
        guard let index = entries.firstIndex(where: { entry in
            if case .backend(let awaited) = entry { return awaited == pending }
            return false
        }) else { return [] }
        entries.remove(at: index)
        var due: [DialogueAction] = []
        while let first = entries.first, case .local(let actions) = first {
            due += actions
            entries.removeFirst()
        }
        return due
    }
}
