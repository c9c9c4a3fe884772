import Testing
@testable import MailTunnelSASL

/// libsasl2 keeps the app name pointer `sasl_server_init` was given and copies the name into every session, so
/// the name must outlive the caller's string. AddressSanitizer (Scripts/test-sanitizers) reported the session
/// reading freed memory here; without the sanitizer, the heap churn below reuses the freed block, and a dangling
/// pointer shows up as a wrong name.
@Suite(.serialized) struct SASLAppNameTests {
    @Test func sessionsCarryTheInitializedAppNameAfterTheCallersStringIsGone() throws {
        _ = try SASLFixture.shared.get()
        // Blocks of the sizes a short Swift string's storage has, filled with 'X', to land on any freed one.
        let churn: [[CChar]] = (0..<4000).map { [CChar](repeating: 0x58, count: 8 + $0 % 96) }
        let server = try withExtendedLifetime(churn) { try SASLFixture.server() }
        #expect(server.applicationName == SASLFixture.appName)
    }
}
