import Testing
@testable import MailTunnelProtocols

@Suite struct ProxyProtocolIPAddressTests {
    @Test func textForms() {
        #expect(IPAddress("192.0.2.1")?.bytes == [192, 0, 2, 1])
        #expect(IPAddress("2001:db8::1")?.description == "2001:db8::1")
        #expect(IPAddress("2001:0DB8:0:0:1:0:0:1")?.description == "2001:db8::1:0:0:1")
        #expect(IPAddress("::")?.description == "::")
        #expect(IPAddress("::1")?.description == "::1")
        #expect(IPAddress("1::")?.description == "1::")
        #expect(IPAddress("2001:db8:0:1:1:1:1:1")?.description == "2001:db8:0:1:1:1:1:1")  // one zero group stays
        #expect(IPAddress("::ffff:192.0.2.7")?.unmappedIPv4 == .v4(192, 0, 2, 7))
        #expect(IPAddress.v4(10, 0, 0, 1).mappedIPv6.description == "::ffff:10.0.0.1")
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1:2:3", "1::2::3", "12345::", "g::1",
                    "1:2:3:4:5:6:7:8:9", "::1.2.3", "1.2.3.4 "] {
            #expect(IPAddress(bad) == nil, "\(bad)")
        }
    }
}

@Suite struct ProxyProtocolV1Tests {
    let v4 = ProxyHeader(source: SocketEndpoint(address: .v4(192, 0, 2, 10), port: 56324),
                         destination: SocketEndpoint(address: .v4(198, 51, 100, 1), port: 993))

    @Test func encodesTCP4AndTCP6() {
        #expect(String(decoding: ProxyProtocol.encode(v4, version: .v1), as: UTF8.self)
                == "PROXY TCP4 192.0.2.10 198.51.100.1 56324 993\r\n")
        let v6 = ProxyHeader(source: SocketEndpoint(address: IPAddress("2001:db8::5")!, port: 1),
                             destination: SocketEndpoint(address: IPAddress("2001:db8::1")!, port: 465))
        #expect(String(decoding: ProxyProtocol.encode(v6, version: .v1), as: UTF8.self)
                == "PROXY TCP6 2001:db8::5 2001:db8::1 1 465\r\n")
        #expect(ProxyProtocol.encode(.local, version: .v1) == Array("PROXY UNKNOWN\r\n".utf8))
    }

    @Test func mixedFamiliesBecomeTCP6() {
        let mixed = ProxyHeader(source: SocketEndpoint(address: .v4(192, 0, 2, 10), port: 5),
                                destination: SocketEndpoint(address: IPAddress("2001:db8::1")!, port: 6))
        #expect(String(decoding: ProxyProtocol.encode(mixed, version: .v1), as: UTF8.self)
                == "PROXY TCP6 ::ffff:192.0.2.10 2001:db8::1 5 6\r\n")
    }

    @Test func roundTripLeavesFollowingBytesAlone() {
        let bytes = ProxyProtocol.encode(v4, version: .v1) + Array("A1 CAPABILITY\r\n".utf8)
        #expect(ProxyProtocol.decode(bytes[...]) == .header(v4, consumed: 46))
    }

    @Test func everyTruncationNeedsMore() {
        let bytes = ProxyProtocol.encode(v4, version: .v1)
        for n in 0..<bytes.count {
            #expect(ProxyProtocol.decode(bytes[0..<n]) == .needMore, "length \(n)")
        }
    }

    @Test func unknownIgnoresRest() {
        #expect(ProxyProtocol.decode(Array("PROXY UNKNOWN\r\n".utf8)[...]) == .header(.local, consumed: 15))
        #expect(ProxyProtocol.decode(Array("PROXY UNKNOWN ffff:: ffff:: 1 2\r\nX".utf8)[...]) == .header(.local, consumed: 33))
    }

    @Test func maximumLengthIsAcceptedAndOneMoreIsNot() {
        let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        let longest = "PROXY TCP6 \(full) \(full) 65535 65535\r\n"
        #expect(longest.utf8.count == 104)
        if case .header(_, let consumed) = ProxyProtocol.decode(Array(longest.utf8)[...]) {
            #expect(consumed == 104)
        } else { Issue.record("longest TCP6 header not accepted") }
        let padded = Array(("PROXY UNKNOWN " + String(repeating: "x", count: 91) + "\r\n").utf8)
        #expect(padded.count == 107)
        #expect(ProxyProtocol.decode(padded[...]) == .header(.local, consumed: 107))
        let tooLong = Array(("PROXY UNKNOWN " + String(repeating: "x", count: 92) + "\r\n").utf8)
        #expect(ProxyProtocol.decode(tooLong[...]) == .invalid("PROXY v1: header longer than 107 bytes"))
        // Without any CRLF, the decoder gives up at 107 bytes instead of buffering forever.
        let noEnd = Array(("PROXY UNKNOWN " + String(repeating: "x", count: 200)).utf8)
        #expect(ProxyProtocol.decode(noEnd[0..<106]) == .needMore)
        #expect(ProxyProtocol.decode(noEnd[0..<107]) == .invalid("PROXY v1: header longer than 107 bytes"))
    }

    @Test func rejectsMalformedLines() {
        let cases: [(String, String)] = [
            ("PROXX TCP4", "PROXY v1: bad signature"),
            ("GET / HTTP/1.0\r\n", "no PROXY protocol header"),
            ("PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", "PROXY v1: unknown protocol"),
            ("PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", "PROXY v1: expected 4 fields after TCP4"),
            ("PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", "PROXY v1: expected 4 fields after TCP4"),
            ("PROXY TCP4 ::1 1.2.3.4 1 2\r\n", "PROXY v1: bad TCP4 address"),
            ("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "PROXY v1: bad TCP6 address"),
            ("PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", "PROXY v1: bad port"),
            ("PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n", "PROXY v1: bad port"),
            ("PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", "PROXY v1: bad port"),
            ("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", "PROXY v1: CR without LF"),
            ("PROXY TCP4 1.2.3.4\n1.2.3.4 1 2\r\n", "PROXY v1: control byte in header"),
            ("PROXY\r\n", "PROXY v1: bad signature"),
            ("PROXY \r\n", "PROXY v1: unknown protocol"),
        ]
        for (text, reason) in cases {
            #expect(ProxyProtocol.decode(Array(text.utf8)[...]) == .invalid(reason), "\(text)")
        }
    }
}

@Suite struct ProxyProtocolV2Tests {
    let sig = ProxyProtocol.v2Signature
    let ssl = ProxySSLInfo(client: [.ssl, .certificateOnConnection, .certificateInSession], verify: 0,
                           version: "TLSv1.3", commonName: "alice", cipher: "TLS_AES_128_GCM_SHA256")

    @Test func encodesIPv4WithSSLTLVExactly() {
        let header = ProxyHeader(source: SocketEndpoint(address: .v4(192, 0, 2, 10), port: 0x1234),
                                 destination: SocketEndpoint(address: .v4(10, 0, 0, 1), port: 465),
                                 ssl: ProxySSLInfo(client: [.ssl], verify: 1, version: "TLSv1.2", cipher: "X"))
        let expected: [UInt8] = sig + [0x21, 0x11, 0x00, 0x22,
            192, 0, 2, 10, 10, 0, 0, 1, 0x12, 0x34, 0x01, 0xD1,
            0x20, 0x00, 0x13, 0x01, 0x00, 0x00, 0x00, 0x01,
            0x21, 0x00, 0x07] + Array("TLSv1.2".utf8) + [0x23, 0x00, 0x01, UInt8(ascii: "X")]
        #expect(ProxyProtocol.encode(header, version: .v2) == expected)
    }

    @Test func overlongTextsAreCappedNotTrapped() {
        let header = ProxyHeader(source: SocketEndpoint(address: .v4(1, 1, 1, 1), port: 1),
                                 destination: SocketEndpoint(address: .v4(2, 2, 2, 2), port: 2),
                                 ssl: ProxySSLInfo(client: [.ssl], verify: 0, commonName: String(repeating: "é", count: 200)),
                                 otherTLVs: [ProxyTLV(type: 0xE0, value: [UInt8](repeating: 1, count: 70000))])
        let bytes = ProxyProtocol.encode(header, version: .v2)
        guard case .header(let decoded, let consumed) = ProxyProtocol.decode(bytes[...]) else {
            Issue.record("capped header must decode"); return
        }
        #expect(consumed == bytes.count)
        #expect(decoded.ssl?.commonName == String(repeating: "é", count: 127))   // 254 bytes, whole characters
        #expect(decoded.otherTLVs == [])
    }

    @Test func encodesLocal() {
        #expect(ProxyProtocol.encode(.local, version: .v2) == sig + [0x20, 0x00, 0x00, 0x00])
        #expect(ProxyProtocol.decode((sig + [0x20, 0x00, 0x00, 0x00, 0x99])[...]) == .header(.local, consumed: 16))
    }

    @Test func roundTripIPv6WithTLVs() {
        let header = ProxyHeader(source: SocketEndpoint(address: IPAddress("2001:db8::7")!, port: 50000),
                                 destination: SocketEndpoint(address: IPAddress("2001:db8::1")!, port: 993),
                                 ssl: ssl, otherTLVs: [ProxyTLV(type: 0x04, value: [0, 0, 0])])
        let bytes = ProxyProtocol.encode(header, version: .v2)
        #expect(bytes[13] == 0x21)
        #expect(ProxyProtocol.decode((bytes + [1, 2, 3])[...]) == .header(header, consumed: bytes.count))
    }

    @Test func everyTruncationNeedsMore() {
        let header = ProxyHeader(source: SocketEndpoint(address: .v4(1, 2, 3, 4), port: 1),
                                 destination: SocketEndpoint(address: .v4(5, 6, 7, 8), port: 2), ssl: ssl)
        let bytes = ProxyProtocol.encode(header, version: .v2)
        for n in 0..<bytes.count {
            #expect(ProxyProtocol.decode(bytes[0..<n]) == .needMore, "length \(n)")
        }
        #expect(ProxyProtocol.decode(bytes[...]) == .header(header, consumed: bytes.count))
    }

    @Test func rejectsBadPreambles() {
        var badSig = sig; badSig[11] = 0x0B
        #expect(ProxyProtocol.decode(badSig[...]) == .invalid("PROXY v2: bad signature"))
        #expect(ProxyProtocol.decode([0x0D, 0x0A, 0x0D, 0x0A, 0x01][...]) == .invalid("PROXY v2: bad signature"))
        #expect(ProxyProtocol.decode([0x16, 0x03, 0x01][...]) == .invalid("no PROXY protocol header"))  // a ClientHello
        #expect(ProxyProtocol.decode((sig + [0x11, 0x11, 0, 12])[...]) == .invalid("PROXY v2: bad version"))
        #expect(ProxyProtocol.decode((sig + [0x22, 0x11, 0, 12])[...]) == .invalid("PROXY v2: bad command"))
        #expect(ProxyProtocol.decode((sig + [0x21, 0x41, 0, 12])[...]) == .invalid("PROXY v2: bad address family or transport"))
        #expect(ProxyProtocol.decode((sig + [0x21, 0x13, 0, 12])[...]) == .invalid("PROXY v2: bad address family or transport"))
        #expect(ProxyProtocol.decode((sig + [0x21, 0x12, 0, 12])[...]) == .invalid("PROXY v2: only STREAM transport is relayed"))
    }

    @Test func rejectsLyingLengths() {
        // Shorter than the IPv4 address block: refused from the 16-byte preamble alone.
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0, 11])[...]) == .invalid("PROXY v2: length 11 shorter than the address block"))
        #expect(ProxyProtocol.decode((sig + [0x21, 0x21, 0, 12])[...]) == .invalid("PROXY v2: length 12 shorter than the address block"))
        // Longer than the limit: refused before buffering.
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0xFF, 0xFF])[...]) == .invalid("PROXY v2: length 65535 exceeds limit 4096"))
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0x00, 0x20])[...], maxV2Payload: 31) == .invalid("PROXY v2: length 32 exceeds limit 31"))
        // Claims 14 bytes: 12 of addresses, then 2 that cannot be a TLV (client bytes swallowed by the lie).
        let addresses: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0, 14] + addresses + Array("EH".utf8))[...])
                == .invalid("PROXY v2: truncated TLV header"))
        // A TLV whose own length runs past the header's.
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0, 16] + addresses + [0x04, 0x00, 0x05, 0])[...])
                == .invalid("PROXY v2: TLV overruns the header"))
        // An SSL TLV too short for client+verify.
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0, 19] + addresses + [0x20, 0x00, 0x04, 1, 0, 0, 0])[...])
                == .invalid("PROXY v2: SSL TLV: shorter than 5 bytes"))
        // Length claiming more than is sent: waits (the engine's handshake timeout ends it).
        #expect(ProxyProtocol.decode((sig + [0x21, 0x11, 0, 40] + addresses)[...]) == .needMore)
    }

    @Test func unspecAndUnixKeepNoAddresses() {
        #expect(ProxyProtocol.decode((sig + [0x21, 0x00, 0, 0])[...])
                == .header(ProxyHeader(command: .proxy, source: nil, destination: nil), consumed: 16))
        let unix = sig + [0x21, 0x31, 0x00, 0xD8] + [UInt8](repeating: 0, count: 216)
        #expect(ProxyProtocol.decode(unix[...]) == .header(ProxyHeader(command: .proxy, source: nil, destination: nil), consumed: 232))
    }

    @Test func localSkipsPayload() {
        let bytes = sig + [0x20, 0x11, 0, 12] + [UInt8](repeating: 9, count: 12) + Array("A1".utf8)
        #expect(ProxyProtocol.decode(bytes[...]) == .header(.local, consumed: 28))
    }
}
