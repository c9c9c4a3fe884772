import Testing
@testable import MailTunnelTLS

/// Which SNI group serves a client's name: exact before wildcard, one label per wildcard, case and trailing dot
/// ignored, the first listed group among equals, nil (the default pair) for no match.
@Suite struct ServerNameMatcherTests {
    static let groups = [["a.test"], ["b.test", "*.b.test"], ["*.test"], ["mail.b.test"]]

    @Test(arguments: [
        ("a.test", 0), ("A.TEST", 0), ("a.test.", 0),
        ("b.test", 1), ("imap.b.test", 1),
        ("mail.b.test", 3),     // an exact name wins over an earlier wildcard
        ("c.test", 2),          // *.test
        ("x.imap.b.test", nil), // a wildcard covers one label only
        ("test", nil), ("", nil), ("other.example", nil),
    ] as [(String, Int?)])
    func chooses(_ name: String, _ expected: Int?) {
        #expect(ServerNameMatcher.group(for: name, in: Self.groups) == expected)
    }

    @Test func wildcardNeedsALabel() {
        #expect(ServerNameMatcher.wildcard("*.b.test", covers: "x.b.test"))
        #expect(!ServerNameMatcher.wildcard("*.b.test", covers: ".b.test"))
        #expect(!ServerNameMatcher.wildcard("*.b.test", covers: "b.test"))
        #expect(!ServerNameMatcher.wildcard("*", covers: "b.test"))
        #expect(!ServerNameMatcher.wildcard("x*.b.test", covers: "xy.b.test"), "partial-label wildcards are not honoured")
    }

    @Test func firstGroupWinsAmongEquals() {
        #expect(ServerNameMatcher.group(for: "a.test", in: [["*.x"], ["a.test"], ["a.test"]]) == 1)
    }
}
