import Testing
@testable import MailTunnelProtocols

@Suite struct IMAPLiteralTests {
    private func marker(_ text: String) -> IMAPLiteral.Marker? {
        IMAPLiteral.trailing(in: s(text))
    }

    @Test func synchronisingLiteral() {
        #expect(marker("a LOGIN {5}") == .init(count: 5, synchronising: true))
        #expect(marker("{0}") == .init(count: 0, synchronising: true))
    }

    @Test func nonSynchronisingLiterals() {
        #expect(marker("a LOGIN {5+}") == .init(count: 5, synchronising: false))
        #expect(marker("a LOGIN {12-}") == .init(count: 12, synchronising: false))
        #expect(marker("a APPEND INBOX ~{5+}") == .init(count: 5, synchronising: false))
    }

    @Test func notLiterals() {
        #expect(marker("a NOOP") == nil)
        #expect(marker("{}") == nil)
        #expect(marker("{+}") == nil)
        #expect(marker("5}") == nil)
        #expect(marker("}") == nil)
        #expect(marker("{a}") == nil)
        #expect(marker("{5 }") == nil)
        #expect(marker("a LOGIN \"{5}\"") == nil)
        #expect(marker("a LOGIN {5} x") == nil)
        #expect(marker("") == nil)
    }

    @Test func hugeCountSaturatesInsteadOfVanishing() {
        #expect(marker("a {99999999999999999999999+}") == .init(count: Int.max, synchronising: false))
    }

    @Test func worksOnASliceWithNonZeroStart() {
        let bytes = b("xx a {7}")
        #expect(IMAPLiteral.trailing(in: bytes[3...]) == .init(count: 7, synchronising: true))
    }
}
