import Testing
@testable import MailTunnelTLS

/// Generated keys rotate every lifetime; the previous key decrypts until two lifetimes after it was made.
@Suite struct TicketKeyRingTests {

    @Test func generatedKeysRotateAndExpireAfterTwoLifetimes() throws {
        let ring = TicketKeyRing()
        ring.useGeneratedKeys(lifetime: .seconds(10))
        let start = ContinuousClock.now
        let first = try #require(ring.encryptionKey(now: start))
        #expect(ring.encryptionKey(now: start + .seconds(9)) == first)
        let names = first.name
        func lookup(_ at: Duration) -> (key: TicketKey, current: Bool)? {
            names.withUnsafeBytes { ring.decryptionKey(named: $0, now: start + at) }
        }
        #expect(lookup(.seconds(9))?.current == true)
        let second = try #require(ring.encryptionKey(now: start + .seconds(10)))
        #expect(second != first)
        #expect(lookup(.seconds(15))?.current == false)   // the previous key decrypts, and the ticket is renewed
        #expect(lookup(.seconds(20)) == nil)              // two lifetimes after it was made
    }

    @Test func fileKeysFirstEncryptsAllDecrypt() throws {
        let a = TicketKey(bytes: Array(0..<80))!
        let b = TicketKey(bytes: Array(1...80))!
        let ring = TicketKeyRing()
        ring.useFileKeys([a, b], lifetime: .seconds(1))
        let later = ContinuousClock.now + .seconds(3600)
        #expect(ring.encryptionKey(now: later) == a)
        #expect(b.name.withUnsafeBytes { ring.decryptionKey(named: $0, now: later) }?.current == false)
        #expect(a.name.withUnsafeBytes { ring.decryptionKey(named: $0, now: later) }?.current == true)
        ring.useGeneratedKeys(lifetime: .seconds(60))
        #expect(a.name.withUnsafeBytes { ring.decryptionKey(named: $0, now: later) } == nil)
    }
}
