import Testing
@testable import MailTunnel

@Suite struct ConfigDurationTests {
    @Test(arguments: [("30s", 30.0), ("10s", 10), ("30m", 1800), ("1h", 3600), ("500ms", 0.5), ("45", 45),
                      ("1d", 86400), ("1.5s", 1.5), (" 2M ", 120), ("0", 0)])
    func parses(_ text: String, _ seconds: Double) throws {
        #expect(try DurationParser.parse(text) == seconds)
    }

    @Test(arguments: ["", "s", "ms", "10x", "-5s", "1h30m", "1..2s", "thirty"])
    func refuses(_ text: String) {
        #expect(throws: OptionValueError.self) { try DurationParser.parse(text) }
    }

    @Test func formatsShortestExactUnit() {
        #expect(DurationParser.format(1800) == "30m")
        #expect(DurationParser.format(30) == "30s")
        #expect(DurationParser.format(3600) == "1h")
        #expect(DurationParser.format(90) == "90s")
        #expect(DurationParser.format(0.5) == "500ms")
        #expect(DurationParser.format(1.5) == "1500ms")
        #expect(DurationParser.format(0) == "0s")
        #expect(DurationParser.format(43200) == "12h")
    }

    @Test(arguments: [0.25, 1, 59, 61, 1800, 7200, 86400, 43200, 3.75])
    func formatRoundTrips(_ seconds: Double) throws {
        #expect(try DurationParser.parse(DurationParser.format(seconds)) == seconds)
    }
}
