import Synchronization

/// The session-ticket keys of one listener, shared by every TLS context built for it (a reload builds a new
/// context, the ring stays) and read by OpenSSL's ticket callback on any event-loop thread. The keys are
/// read-mostly: a lookup copies the current array under a short lock; a reload or rotation swaps it whole.
///
/// Two sources:
/// - **a ticket-key file** (`useFileKeys`): the first key encrypts, every key decrypts; the operator rotates;
/// - **generated** (`useGeneratedKeys`): a fresh random key encrypts for one `lifetime`; a key decrypts until
///   two lifetimes after it was made, so a ticket is refused once it is older than two lifetimes and a stolen
///   process image opens at most that much of the past.
public final class TicketKeyRing: Sendable {
    struct DatedKey {
        var key: TicketKey
        var created: ContinuousClock.Instant
    }

    enum Source: Equatable {
        case file
        case generated
    }

    struct State {
        var source: Source
        /// Newest first: `keys[0]` encrypts.
        var keys: [DatedKey]
        var lifetime: Duration
    }

    private let state: Mutex<State>

    public init() {
        state = Mutex(State(source: .generated, keys: [], lifetime: .seconds(3600)))
    }

    /// Keys from a file, in file order (the first encrypts). Swapped in whole.
    public func useFileKeys(_ keys: [TicketKey], lifetime: Duration) {
        let now = ContinuousClock.now
        state.withLock { $0 = State(source: .file, keys: keys.map { DatedKey(key: $0, created: now) }, lifetime: lifetime) }
    }

    /// Generated keys rotating every `lifetime`. Keys already generated are kept (a reload loses no tickets)
    /// unless the ring held file keys before.
    public func useGeneratedKeys(lifetime: Duration) {
        state.withLock { state in
            if state.source != .generated { state.keys = [] }
            state.source = .generated
            state.lifetime = lifetime
        }
    }

    /// The key that encrypts a new ticket now; generated keys rotate here, when the current one is a lifetime old.
    func encryptionKey(now: ContinuousClock.Instant = .now) -> TicketKey? {
        state.withLock { state in
            guard state.source == .generated else { return state.keys.first?.key }
            state.keys.removeAll { now - $0.created >= state.lifetime * 2 }
            if let current = state.keys.first, now - current.created < state.lifetime { return current.key }
            let fresh = DatedKey(key: TicketKey.random(), created: now)
            state.keys = [fresh] + state.keys.prefix(1)
            return fresh.key
        }
    }

    /// The key named `name`, and whether it is the one that encrypts now (else the ticket is renewed).
    func decryptionKey(named name: UnsafeRawBufferPointer, now: ContinuousClock.Instant = .now)
        -> (key: TicketKey, current: Bool)? {
        state.withLock { state in
            guard let index = state.keys.firstIndex(where: { $0.key.name.elementsEqual(name) }) else { return nil }
            let dated = state.keys[index]
            if state.source == .generated && now - dated.created >= state.lifetime * 2 { return nil }
            let current = index == 0 && (state.source == .file || now - dated.created < state.lifetime)
            return (dated.key, current)
        }
    }
}
