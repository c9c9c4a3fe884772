import Testing
@testable import MailTunnel

@Suite struct AddressParserTests {
    @Test func acceptPortOnlyMeansAllInterfaces() throws {
        #expect(try AddressParser.parse("993", role: .accept) == HostPort(host: nil, port: 993))
        #expect(try AddressParser.parse("*:993", role: .accept) == HostPort(host: nil, port: 993))
    }

    @Test func connectPortOnlyMeansLocalhost() throws {
        #expect(try AddressParser.parse("143", role: .connect) == HostPort(host: "127.0.0.1", port: 143))
        #expect(try AddressParser.parse("9100", role: .metrics) == HostPort(host: "127.0.0.1", port: 9100))
    }

    @Test func ipv4AndNames() throws {
        #expect(try AddressParser.parse("192.0.2.7:25", role: .connect) == HostPort(host: "192.0.2.7", port: 25))
        #expect(try AddressParser.parse(" mail.internal:587 ", role: .connect) == HostPort(host: "mail.internal", port: 587))
    }

    @Test func ipv6InBrackets() throws {
        let address = try AddressParser.parse("[::1]:993", role: .accept)
        #expect(address == HostPort(host: "::1", port: 993))
        #expect(address.description == "[::1]:993")
        #expect(try AddressParser.parse("[2001:db8::5]:143", role: .connect) == HostPort(host: "2001:db8::5", port: 143))
    }

    @Test(arguments: ["0", "65536", "99999", "-1", "abc", "", "993x", "1.5"])
    func badPortsAreRefused(_ text: String) {
        #expect(throws: OptionValueError.self) { try AddressParser.parse(text, role: .accept) }
        #expect(throws: OptionValueError.self) { try AddressParser.parse("127.0.0.1:\(text)", role: .connect) }
    }

    @Test func portBoundsAreInclusive() throws {
        #expect(try AddressParser.parse("1", role: .accept).port == 1)
        #expect(try AddressParser.parse("65535", role: .accept).port == 65535)
    }

    @Test func clearErrors() {
        #expect(throws: OptionValueError("IPv6 addresses need brackets, as [::1]:993; got '::1:993'")) {
            try AddressParser.parse("::1:993", role: .accept)
        }
        #expect(throws: OptionValueError("port must be a number from 1 to 65535, got '70000'")) {
            try AddressParser.parse("70000", role: .accept)
        }
        #expect(throws: OptionValueError("expected [IPv6]:PORT, the port is missing in '[::1]'")) {
            try AddressParser.parse("[::1]", role: .accept)
        }
        #expect(throws: OptionValueError.self) { try AddressParser.parse("*:143", role: .connect) }
        #expect(throws: OptionValueError.self) { try AddressParser.parse(":143", role: .connect) }
        #expect(throws: OptionValueError.self) { try AddressParser.parse("bad host:143", role: .connect) }
    }

    @Test func bindConflicts() {
        let all = HostPort(host: nil, port: 993)
        #expect(all.bindConflicts(with: HostPort(host: "127.0.0.1", port: 993)))
        #expect(HostPort(host: "10.0.0.1", port: 993).bindConflicts(with: HostPort(host: "10.0.0.1", port: 993)))
        #expect(!HostPort(host: "10.0.0.1", port: 993).bindConflicts(with: HostPort(host: "10.0.0.2", port: 993)))
        #expect(!all.bindConflicts(with: HostPort(host: nil, port: 995)))
    }
}
