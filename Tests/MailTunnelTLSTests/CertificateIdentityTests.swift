import Testing
@testable import MailTunnelTLS

@Suite struct CertificateIdentityTests {
    private func bobWithAliceEmail() -> CertificateIdentity {
        CertificateIdentity(subject: "CN=bob,O=Example", commonName: "bob", emails: ["alice@example.org"])
    }

    @Test func withoutAllowSubjectTheCNIsTheIdentity() {
        var identity = bobWithAliceEmail()
        #expect(identity.loginName == "bob")
        let admitted = identity.admit([])
        #expect(admitted)
        #expect(identity.loginName == "bob")
    }

    @Test func withoutCNTheFirstEmailIsTheIdentity() {
        let identity = CertificateIdentity(subject: "O=Example", commonName: nil, emails: ["a@example.org", "b@example.org"])
        #expect(identity.loginName == "a@example.org")
    }

    @Test func theListedNameIsTheIdentityThatWasAdmitted() {
        var identity = bobWithAliceEmail()
        let admitted = identity.admit(["alice@example.org"])
        #expect(admitted)
        #expect(identity.loginName == "alice@example.org")
    }

    @Test func whenSeveralNamesAreListedTheCNComesFirst() {
        var identity = bobWithAliceEmail()
        let admitted = identity.admit(["alice@example.org", "bob"])
        #expect(admitted)
        #expect(identity.loginName == "bob")
    }

    @Test func unlistedCertificateIsNotAdmittedAndKeepsNoListedName() {
        var identity = bobWithAliceEmail()
        let admitted = identity.admit(["carol"])
        #expect(!admitted)
        #expect(identity.loginName == "bob")
    }

    @Test func identityTextRefusesControlsAndBadUTF8() {
        #expect(IdentityText.decode(Array("alice".utf8)) == "alice")
        #expect(IdentityText.decode(Array("Jürgen Müller".utf8)) == "Jürgen Müller")
        #expect(IdentityText.decode(Array("alice\u{0}evil".utf8)) == nil)
        #expect(IdentityText.decode(Array("alice\r\nRCPT TO:<x@y>".utf8)) == nil)
        #expect(IdentityText.decode(Array("tab\there".utf8)) == nil)
        #expect(IdentityText.decode(Array("del\u{7f}".utf8)) == nil)
        #expect(IdentityText.decode(Array("c1\u{85}".utf8)) == nil)
        #expect(IdentityText.decode(Array("ls\u{2028}".utf8)) == nil)
        #expect(IdentityText.decode([0x61, 0xff, 0x62]) == nil)
        #expect(IdentityText.decode([0xc3]) == nil)
    }
}
