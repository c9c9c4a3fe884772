import Testing
@testable import MailTunnelProtocols

@Suite struct XTextTests {
    @Test func encodesOnlyWhatRFC3461Requires() {
        #expect(XText.encode("alice@example.org") == "alice@example.org")
        #expect(XText.encode("a+b=c") == "a+2Bb+3Dc")
        #expect(XText.encode("two words") == "two+20words")
        #expect(XText.encode("!~") == "!~")                          // 33 and 126 are the edges kept
        #expect(XText.encode([0x00, 0x1F, 0x20, 0x7F, 0xFF]) == "+00+1F+20+7F+FF")
        #expect(XText.encode("jörg") == "j+C3+B6rg")                 // UTF-8 octets, uppercase hex
        #expect(XText.encode("") == "")
        #expect(XText.encode("[UNAVAILABLE]") == "[UNAVAILABLE]")
    }

    @Test func decodesAndRejects() {
        #expect(XText.decode("a+2Bb+3Dc") == Array("a+b=c".utf8))
        #expect(XText.decode("j+C3+B6rg") == Array("jörg".utf8))
        #expect(XText.decode("+2b") == nil)     // hexchar is uppercase only
        #expect(XText.decode("+2") == nil)
        #expect(XText.decode("a=b") == nil)
        #expect(XText.decode("a b") == nil)
        #expect(XText.decode("") == [])
    }

    @Test func roundTripsEveryOctet() {
        let all = (0...255).map { UInt8($0) }
        #expect(XText.decode(XText.encode(all)) == all)
    }
}

@Suite struct XTextBase64Tests {
    @Test func vectors() {
        // RFC 4648 section 10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(Array(encoded.utf8)) == Array(plain.utf8))
        }
        #expect(Base64.encode([0, 0xFF, 0xFE]) == "AP/+")
    }

    @Test func strict() {
        for bad in ["Zg", "Zg=", "Z===", "Zh==", "Zm9=", "Zm 9", "Zm9v\r\n", "====", "Zg==Zg==", "Zm-v"] {
            #expect(Base64.decode(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
