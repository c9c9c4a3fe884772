import Dispatch
import MailTunnelProtocols
import Synchronization
import Testing
@testable import MailTunnel

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let value = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { value.withLock { $0 } }
    func advance(_ duration: Duration) { value.withLock { $0 += duration } }
}

@Suite struct AdmissionTests {
    let limits = Admission.Limits(maxConnections: 100, maxPerAddress: 3)

    @Test func perAddressLimitThenPoliteRefusalsThenDrops() {
        let admission = Admission()
        for _ in 0..<3 { #expect(admission.enter("192.0.2.1", limits: limits) == .admit) }
        let reason = "too many connections from 192.0.2.1"
        for _ in 0..<Admission.refusalsPerAddress { #expect(admission.enter("192.0.2.1", limits: limits) == .refuse(reason)) }
        #expect(admission.enter("192.0.2.1", limits: limits) == .drop(reason))
        // Another address is still admitted.
        #expect(admission.enter("192.0.2.2", limits: limits) == .admit)
        // A refusal that ends makes room for the next polite one; an admitted one that ends, for a client.
        admission.leave("192.0.2.1", refused: true)
        #expect(admission.enter("192.0.2.1", limits: limits) == .refuse(reason))
        admission.leave("192.0.2.1", refused: false)
        #expect(admission.enter("192.0.2.1", limits: limits) == .admit)
        #expect(admission.counts("192.0.2.1") == (admitted: 4, refusing: 2, fromKey: 3))
    }

    @Test func globalLimitAndRefusalBudgetInAll() {
        let admission = Admission()
        let small = Admission.Limits(maxConnections: 2, maxPerAddress: nil)
        #expect(admission.enter("10.0.0.1", limits: small) == .admit)
        #expect(admission.enter("10.0.0.2", limits: small) == .admit)
        var refused = 0, dropped = 0
        for i in 0..<100 {
            switch admission.enter("10.1.\(i / 250).\(i % 250)", limits: small) {
            case .refuse(let why): refused += 1; #expect(why == "too many connections")
            case .drop: dropped += 1
            case .admit: Issue.record("admitted over the global limit")
            }
        }
        #expect(refused == Admission.refusalsInFlight && dropped == 100 - Admission.refusalsInFlight)
    }

    @Test func newLimitsApplyToTheSameCounters() {
        // What a reload does: the same Admission, asked with other limits.
        let admission = Admission()
        for _ in 0..<3 { #expect(admission.enter("192.0.2.1", limits: limits) == .admit) }
        let tighter = Admission.Limits(maxConnections: 100, maxPerAddress: 2)
        #expect(admission.enter("192.0.2.1", limits: tighter) == .refuse("too many connections from 192.0.2.1"))
        let looser = Admission.Limits(maxConnections: 100, maxPerAddress: 10)
        #expect(admission.enter("192.0.2.1", limits: looser) == .admit)
    }

    @Test func tenFailuresBanForTheWindow() {
        let clock = ManualClock()
        let admission = Admission(clock: { clock.now })
        for i in 0..<Admission.authFailureLimit {
            #expect(admission.mayAttempt("192.0.2.1"))
            #expect(admission.attemptEnded("192.0.2.1", failed: true) == (i == Admission.authFailureLimit - 1))
            clock.advance(.seconds(1))
        }
        #expect(!admission.mayAttempt("192.0.2.1"))
        #expect(admission.mayAttempt("192.0.2.2"))
        admission.attemptEnded("192.0.2.2", failed: false)
        clock.advance(Admission.authFailureWindow - .seconds(2))
        #expect(!admission.mayAttempt("192.0.2.1"))
        clock.advance(.seconds(2))
        #expect(admission.mayAttempt("192.0.2.1"))
    }

    @Test func oldFailuresExpire() {
        let clock = ManualClock()
        let admission = Admission(clock: { clock.now })
        for _ in 0..<(Admission.authFailureLimit - 1) {
            #expect(admission.mayAttempt("k"))
            admission.attemptEnded("k", failed: true)
        }
        clock.advance(Admission.authFailureWindow)
        for _ in 0..<(Admission.authFailureLimit - 1) {
            #expect(admission.mayAttempt("k"))
            admission.attemptEnded("k", failed: true)
        }
        #expect(admission.mayAttempt("k"))
        #expect(admission.attemptEnded("k", failed: true))
    }

    @Test func attemptsInFlightCountAgainstTheLimit() {
        let admission = Admission()
        for _ in 0..<Admission.authFailureLimit { #expect(admission.mayAttempt("k")) }
        #expect(!admission.mayAttempt("k"))
        admission.attemptEnded("k", failed: false)
        #expect(admission.mayAttempt("k"))
    }

    @Test func parallelSessionsGetNoMoreThanTheLimit() async {
        // 8 "connections" on real threads, each trying 20 wrong passwords: exactly 10 are checked.
        let admission = Admission()
        let checked = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var mine = 0
                    for _ in 0..<20 where admission.mayAttempt("2001:db8::/64") {
                        mine += 1
                        admission.attemptEnded("2001:db8::/64", failed: true)
                    }
                    return mine
                }
            }
            return await group.reduce(0, +)
        }
        #expect(checked == Admission.authFailureLimit)
    }

    @Test func runtimeKeysIPv6ByPrefix() {
        #expect(ListenerRuntime.clientKey("2001:db8:1:2::5") == "2001:db8:1:2::/64")
        #expect(ListenerRuntime.clientKey("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64")
        #expect(ListenerRuntime.clientKey("192.0.2.1") == "192.0.2.1")
        #expect(ListenerRuntime.clientKey("::ffff:192.0.2.1") == "192.0.2.1")
    }
}

@Suite struct AcceptProxyFromConfigTests {
    @Test func defaultIsLoopback() throws {
        let run = try RunConfig.load(arguments: ["--accept", "993", "--connect", "143", "--accept-proxy-protocol"])
        #expect(run.listeners[0].trustedProxies.map(\.description) == ["127.0.0.0/8", "::1"])
        #expect(CheckReport.render(run).contains("\naccept-proxy-from = 127.0.0.0/8, ::1\n"))
    }

    @Test func givenValuesReplaceTheDefaultAndAccumulate() throws {
        let run = try RunConfig.load(arguments: ["--accept", "993", "--connect", "143", "--accept-proxy-protocol",
                                                 "--accept-proxy-from", "10.0.0.0/8, 192.168.1.5",
                                                 "--accept-proxy-from", "2001:db8::/32"])
        #expect(run.listeners[0].trustedProxies.map(\.description) == ["10.0.0.0/8", "192.168.1.5", "2001:db8::/32"])
        #expect(CheckReport.render(run).contains("\naccept-proxy-from = 10.0.0.0/8, 192.168.1.5, 2001:db8::/32\n"))
    }

    @Test func badValuesAreErrors() {
        for value in ["10.0.0.1/8", "10.0.0.0/33", "lb.example.org", ""] {
            #expect(throws: ConfigErrors.self) {
                try RunConfig.load(arguments: ["--accept", "993", "--connect", "143", "--accept-proxy-protocol",
                                               "--accept-proxy-from=\(value)"])
            }
        }
    }
}
