import Testing
@testable import MailTunnel

@Suite struct LogLineTests {
    @Test func plainValuesStayBare() {
        #expect(LogLine.format("connection ended", [("client", "192.0.2.1:4242"), ("user", "alice@example.org")])
            == "connection ended client=192.0.2.1:4242 user=alice@example.org")
    }

    @Test func spacesEqualsQuotesAndEmptyAreQuoted() {
        #expect(LogLine.quote("") == "\"\"")
        #expect(LogLine.quote("a b") == "\"a b\"")
        #expect(LogLine.quote("a=b") == "\"a=b\"")
        #expect(LogLine.quote("say \"hi\"") == "\"say \\\"hi\\\"\"")
        #expect(LogLine.quote("back\\slash") == "\"back\\\\slash\"")
    }

    @Test func lineBreaksAndControlsAreEscapedNeverWritten() {
        let forged = "eve\r\n2026-01-01T00:00:00.000Z info connection ended client=203.0.113.9:1 reason=forged"
        let quoted = LogLine.quote(forged)
        #expect(!quoted.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f })
        #expect(quoted.hasPrefix("\"eve\\r\\n2026"))
        #expect(LogLine.quote("a\u{0}b") == "\"a\\x00b\"")
        #expect(LogLine.quote("\u{1b}[2J") == "\"\\x1b[2J\"")
        #expect(LogLine.quote("del\u{7f}") == "\"del\\x7f\"")
        #expect(LogLine.quote("tab\there") == "\"tab\\there\"")
        #expect(LogLine.quote("nel\u{85}") == "\"nel\\x85\"")
        #expect(LogLine.quote("ls\u{2028}") == "\"ls\\u2028\"")
    }

    @Test func graphemeClustersDoNotHideQuotesOrLineBreaks() {
        // "\r\n" is a single Character; a quote followed by a combining accent is one Character too.
        #expect(LogLine.quote("a\r\nb") == "\"a\\r\\nb\"")
        #expect(LogLine.quote("x\"\u{301}") == "\"x\\\"\u{301}\"")
    }

    @Test func aQuotedValueParsesBackToOneField() {
        let line = LogLine.format("connection ended", [("user", "x\" reason=\"forged"), ("reason", "client closed")])
        #expect(line == "connection ended user=\"x\\\" reason=\\\"forged\" reason=\"client closed\"")
    }

    @Test func messageControlsAreEscapedOnceOnly() {
        #expect(LogLine.format("bad\nmessage", []) == "bad\\nmessage")
        let formatted = LogLine.format("event", [("v", "a\nb")])
        #expect(LogLine.escapeControls(formatted) == formatted)
    }

    @Test func quotesValuesWithSpaces() {
        let line = LogLine.format("connection ended", [("client", "127.0.0.1:5"), ("reason", "client closed"), ("empty", "")])
        #expect(line == #"connection ended client=127.0.0.1:5 reason="client closed" empty="""#)
    }

    @Test func escapesQuotesAndNewlines() {
        #expect(LogLine.quote("a \"b\"\nc") == #""a \"b\"\nc""#)
    }

    @Test func formatsDurations() {
        #expect(formatSeconds(0.0123) == "0.012s")
        #expect(formatSeconds(61.5) == "61.500s")
    }

    @Test func nonASCIITextIsKept() {
        #expect(LogLine.quote("Jürgen") == "Jürgen")
    }
}
