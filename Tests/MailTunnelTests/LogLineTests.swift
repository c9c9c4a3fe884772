import Logging
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
        #expect(formatSeconds(Duration.milliseconds(61_500)) == "61.500s")
        #expect(formatSeconds(Duration.microseconds(12_300)) == "0.012s")
    }

    /// Metadata is a dictionary; the rendered line keeps the order readers and fail2ban filters know.
    @Test func connectionEndedFieldsKeepTheirOrder() {
        let metadata: Logger.Metadata = [
            "auth_failures": "2", "via": "127.0.0.1:9", "reason": "client closed", "duration": "0.010s",
            "out": "20", "in": "10", "backend": "127.0.0.1:143", "user": "alice", "identity": "-", "serial": "-",
            "peer": "-", "cipher": "TLS_AES_256_GCM_SHA384", "tls": "TLSv1.3", "client": "192.0.2.1:4242",
            "listener": "imaps",
        ]
        #expect(LogLine.render("connection ended", metadata: metadata)
            == "connection ended listener=imaps client=192.0.2.1:4242 tls=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384"
            + " peer=- serial=- identity=- user=alice backend=127.0.0.1:143 in=10 out=20 duration=0.010s"
            + " reason=\"client closed\" via=127.0.0.1:9 auth_failures=2")
    }

    @Test func otherMessagesKeepTheirOrderToo() {
        #expect(LogLine.render("connection dropped", metadata: [
            "unlogged_since_last": "0", "reason": "too many", "client": "192.0.2.1:1", "listener": "smtp",
        ]) == "connection dropped listener=smtp client=192.0.2.1:1 reason=\"too many\" unlogged_since_last=0")
        #expect(LogLine.render("event loop wait failed", metadata: ["retry_in_ms": "10", "error": "x", "loop": "0"])
            == "event loop wait failed loop=0 error=x retry_in_ms=10")
        #expect(LogLine.render("certificate", metadata: ["fingerprint": "ab", "subject": "CN=a", "path": "/c", "listener": "l"])
            == "certificate listener=l path=/c subject=\"CN=a\" fingerprint=ab")
        #expect(LogLine.render("listening", metadata: [
            "socket": "bound", "mode": "starttls", "protocol": "smtp", "connect": "25", "accept": "587", "listener": "s",
        ]) == "listening listener=s accept=587 connect=25 protocol=smtp mode=starttls socket=bound")
    }

    @Test func unlistedKeysFollowAlphabetically() {
        #expect(LogLine.render("event", metadata: ["zeta": "1", "alpha": "2", "listener": "l"])
            == "event listener=l alpha=2 zeta=1")
        #expect(Set(LogFieldOrder.keys).count == LogFieldOrder.keys.count)
    }

    @Test func renderedValuesAreEscapedOnce() {
        #expect(LogLine.render("bad\nmessage", metadata: ["user": "eve\r\ninfo forged", "n": .stringConvertible(3)])
            == "bad\\nmessage user=\"eve\\r\\ninfo forged\" n=3")
    }

    @Test func eventMetadataOverridesTheHandlers() {
        let event = LogEvent(level: .info, message: "m", metadata: ["listener": "event"], source: "s",
                             file: #fileID, function: #function, line: #line)
        #expect(LogLine.render(event, handlerMetadata: ["listener": "handler", "client": "c"]) == "m listener=event client=c")
    }

    @Test func nonASCIITextIsKept() {
        #expect(LogLine.quote("Jürgen") == "Jürgen")
    }
}
