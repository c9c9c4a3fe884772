import Logging
import MailTunnelProtocols

/// Who may come in, for one listener name: connection counts per client and in all, the polite refusals in
/// flight, and failed authentications per client. The daemon keeps one per listener name across reloads, so a
/// new configuration applies its limits to the same counters (a SIGHUP neither lifts a ban nor resets counts).
///
/// Keys are `IPAddress.clientKey` strings: an IPv4 address, or an IPv6 /64.
final class Admission: Sendable {
    struct Limits: Sendable, Equatable {
        var maxConnections: Int
        var maxPerAddress: Int?
    }

    enum Decision: Equatable {
        case admit
        /// Over a limit, but the refusal budget allows telling the client why (after its TLS handshake).
        case refuse(String)
        /// Over a limit and over the refusal budget: close at once, before any handshake.
        case drop(String)
    }

    /// Over-limit clients that may hold a descriptor to hear the protocol's refusal: per client and in all.
    /// Everyone beyond is closed at once, so one client never holds more than its limit plus this many sockets.
    static let refusalsPerAddress = 2
    static let refusalsInFlight = 32
    /// Failed authentications from one client within `authFailureWindow` before it is refused for that long.
    static let authFailureLimit = 10
    static let authFailureWindow: Duration = .seconds(600)

    private struct FailureRecord {
        /// When each failure still inside the window happened.
        var times: [ContinuousClock.Instant] = []
        /// Attempts reserved by `mayAttempt` and not yet ended: parallel sessions cannot overshoot the limit.
        var inFlight = 0
        var bannedUntil: ContinuousClock.Instant?

        mutating func forgetOld(now: ContinuousClock.Instant) {
            times.removeAll { now - $0 >= Admission.authFailureWindow }
        }

        func isBanned(now: ContinuousClock.Instant) -> Bool { bannedUntil.map { now < $0 } ?? false }

        func isIdle(now: ContinuousClock.Instant) -> Bool { times.isEmpty && inFlight == 0 && !isBanned(now: now) }
    }

    private struct State {
        var admitted = 0
        var perAddress: [String: Int] = [:]
        var refusing = 0
        var refusingPerAddress: [String: Int] = [:]
        var failures: [String: FailureRecord] = [:]
        /// Size of `failures` at which expired records are swept out.
        var sweepAt = 1024
    }

    private let state = LockedState(State())
    private let clock: @Sendable () -> ContinuousClock.Instant

    /// `clock`: tests pass one they move by hand.
    init(clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.clock = clock
    }

    // MARK: Connections

    /// Counts a new socket in (unless dropped). Every `admit` and `refuse` is paired with one `leave`.
    func enter(_ key: String, limits: Limits) -> Decision {
        state.withLock { state in
            let reason: String
            if state.admitted >= limits.maxConnections {
                reason = "too many connections"
            } else if let perAddress = limits.maxPerAddress, state.perAddress[key, default: 0] >= perAddress {
                reason = "too many connections from \(key)"
            } else {
                state.admitted += 1
                state.perAddress[key, default: 0] += 1
                return .admit
            }
            guard state.refusing < Self.refusalsInFlight,
                  state.refusingPerAddress[key, default: 0] < Self.refusalsPerAddress else { return .drop(reason) }
            state.refusing += 1
            state.refusingPerAddress[key, default: 0] += 1
            return .refuse(reason)
        }
    }

    /// `refused`: the connection was let in by `enter` returning `.refuse`.
    func leave(_ key: String, refused: Bool) {
        state.withLock { state in
            if refused {
                state.refusing -= 1
                Self.decrement(&state.refusingPerAddress, key)
            } else {
                state.admitted -= 1
                Self.decrement(&state.perAddress, key)
            }
        }
    }

    private static func decrement(_ counts: inout [String: Int], _ key: String) {
        let remaining = (counts[key] ?? 1) - 1
        counts[key] = remaining > 0 ? remaining : nil
    }

    /// (admitted, refusals in flight, admitted from `key`), for tests.
    func counts(_ key: String) -> (admitted: Int, refusing: Int, fromKey: Int) {
        state.withLock { ($0.admitted, $0.refusing, $0.perAddress[key] ?? 0) }
    }

    // MARK: Authentication failures

    /// Reserves one credential check for `key`; false while it is banned or its failures plus the checks in
    /// flight already reach the limit.
    func mayAttempt(_ key: String) -> Bool {
        let now = clock()
        return state.withLock { state in
            guard var record = state.failures[key] else {
                state.failures[key] = FailureRecord(inFlight: 1)
                Self.sweepIfLarge(&state, now: now)
                return true
            }
            record.forgetOld(now: now)
            let allowed = !record.isBanned(now: now) && record.times.count + record.inFlight < Self.authFailureLimit
            if allowed { record.inFlight += 1 }
            state.failures[key] = record.isIdle(now: now) ? nil : record
            return allowed
        }
    }

    /// Ends a check reserved by `mayAttempt`. Returns true when this failure starts a ban.
    @discardableResult
    func attemptEnded(_ key: String, failed: Bool) -> Bool {
        let now = clock()
        return state.withLock { state in
            var record = state.failures[key] ?? FailureRecord()
            record.inFlight = max(0, record.inFlight - 1)
            record.forgetOld(now: now)
            var banned = false
            if failed {
                record.times.append(now)
                if record.times.count >= Self.authFailureLimit {
                    record.bannedUntil = now + Self.authFailureWindow
                    record.times.removeAll()
                    banned = true
                }
            }
            state.failures[key] = record.isIdle(now: now) ? nil : record
            return banned
        }
    }

    /// Clients that failed once and never came back would otherwise stay in the table forever.
    private static func sweepIfLarge(_ state: inout State, now: ContinuousClock.Instant) {
        guard state.failures.count >= state.sweepAt else { return }
        state.failures = state.failures.filter { _, record in
            var record = record
            record.forgetOld(now: now)
            return !record.isIdle(now: now)
        }
        state.sweepAt = max(1024, 2 * state.failures.count)
    }
}

/// The gate's per-attempt hook for one connection, bound to its client's key.
struct ClientAttemptPolicy: AuthAttemptPolicy {
    let admission: Admission
    let key: String
    let listenerName: String
    let logger: Logger

    func mayAttempt() -> Bool { admission.mayAttempt(key) }

    func attemptEnded(failed: Bool) {
        guard admission.attemptEnded(key, failed: failed) else { return }
        logger.warning("authentication refused for a while", metadata: [
            "listener": "\(listenerName)", "client": "\(key)", "failures": "\(Admission.authFailureLimit)",
            "duration": "\(formatSeconds(Admission.authFailureWindow))",
        ])
    }
}
