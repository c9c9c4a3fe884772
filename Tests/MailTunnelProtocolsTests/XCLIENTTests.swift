import Testing
@testable import MailTunnelProtocols

@Suite struct XCLIENTTests {
    func text(_ lines: [[UInt8]]) -> [String] { lines.map { String(decoding: $0, as: UTF8.self) } }

    @Test func ipv4Client() throws {
        let client = SocketEndpoint(address: .v4(192, 0, 2, 1), port: 54321)
        let lines = try XCLIENT.commands(XCLIENT.attributes(client: client, login: "alice"))
        #expect(text(lines) == ["XCLIENT ADDR=192.0.2.1 PORT=54321 NAME=[UNAVAILABLE] LOGIN=alice\r\n"])
    }

    @Test func ipv6AndMappedClients() throws {
        let v6 = SocketEndpoint(address: IPAddress("2001:db8::25")!, port: 1)
        #expect(text(try XCLIENT.commands(XCLIENT.attributes(client: v6, login: nil)))
                == ["XCLIENT ADDR=IPV6:2001:db8::25 PORT=1 NAME=[UNAVAILABLE]\r\n"])
        let mapped = SocketEndpoint(address: IPAddress("::ffff:198.51.100.3")!, port: 2)
        #expect(text(try XCLIENT.commands(XCLIENT.attributes(client: mapped, login: nil)))
                == ["XCLIENT ADDR=198.51.100.3 PORT=2 NAME=[UNAVAILABLE]\r\n"])
    }

    @Test func loginIsXTextEncoded() throws {
        let lines = try XCLIENT.commands([XCLIENT.Attribute("LOGIN", "bob+x=y z@example.org")])
        #expect(text(lines) == ["XCLIENT LOGIN=bob+2Bx+3Dy+20z@example.org\r\n"])
    }

    @Test func splitsToStayWithin512() throws {
        let login = String(repeating: "u", count: 450)
        let client = SocketEndpoint(address: IPAddress("2001:db8:1:2:3:4:5:6")!, port: 65535)
        let lines = try XCLIENT.commands(XCLIENT.attributes(client: client, login: login))
        #expect(text(lines) == ["XCLIENT ADDR=IPV6:2001:db8:1:2:3:4:5:6 PORT=65535 NAME=[UNAVAILABLE]\r\n",
                                "XCLIENT LOGIN=\(login)\r\n"])
        #expect(lines.allSatisfy { $0.count <= 512 })
        // Exactly at the limit stays in one line; one more octet splits.
        let fits = String(repeating: "a", count: 512 - "XCLIENT LOGIN=\r\n".utf8.count)
        #expect(try XCLIENT.commands([XCLIENT.Attribute("LOGIN", fits)]).map(\.count) == [512])
        #expect(throws: XCLIENT.BuildError.attributeTooLong(name: "LOGIN")) {
            try XCLIENT.commands([XCLIENT.Attribute("LOGIN", fits + "a")])
        }
        let lines2 = try XCLIENT.commands([XCLIENT.Attribute("NAME", "x"), XCLIENT.Attribute("LOGIN", fits)])
        #expect(lines2.map(\.count) == ["XCLIENT NAME=x\r\n".utf8.count, 512])
    }

    @Test func replies() {
        var reader = SMTPReplyReader()
        reader.append(Array("220 mx.example.org ESMTP Postfix\r\n550 5.7.0 Error: insufficient authorization\r\n".utf8)[...])
        guard case .reply(let ok) = reader.next(), case .reply(let denied) = reader.next() else {
            Issue.record("two replies expected"); return
        }
        #expect(XCLIENT.outcome(of: ok) == .accepted)
        #expect(XCLIENT.outcome(of: denied) == .rejected(SMTPReply(code: 550, lines: ["5.7.0 Error: insufficient authorization"])))
        #expect(reader.next() == .needMore)
    }
}

@Suite struct XCLIENTReplyReaderTests {
    @Test func multiLineArrivingByteByByte() {
        var reader = SMTPReplyReader()
        let wire = Array("250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n".utf8)
        var results: [SMTPReplyReader.Next] = []
        for byte in wire {
            reader.append([byte][...])
            let next = reader.next()
            if next != .needMore { results.append(next) }
        }
        let reply = SMTPReply(code: 250, lines: ["mx.example.org", "PIPELINING", "8BITMIME"])
        #expect(results == [.reply(reply)])
        #expect(reply.bytes == wire)
    }

    @Test func malformed() {
        for (wire, reason) in [("25O ok\r\n", "malformed reply line"), ("250ok\r\n", "malformed reply line"),
                               ("250-a\r\n251 b\r\n", "reply code changed within a multi-line reply")] {
            var reader = SMTPReplyReader()
            reader.append(Array(wire.utf8)[...])
            #expect(reader.next() == .invalid(reason), "\(wire)")
        }
        var reader = SMTPReplyReader(maxLineLength: 10)
        reader.append(Array("250 0123456789".utf8)[...])
        #expect(reader.next() == .invalid("reply line longer than 10 bytes"))
        var bare = SMTPReplyReader()
        bare.append(Array("354\n".utf8)[...])
        #expect(bare.next() == .reply(SMTPReply(code: 354, lines: [""])))
    }
}

@Suite struct SMTPReplyReaderDecodingTests {
    /// The decoding reader and the raw one read the same replies; only the form differs.
    @Test func decodesWhatTheRawReaderAssembles() {
        let wire = "250-mx.example.org\r\n250-SIZE 10\n250 CHUNKING\r\n354\n"
        var decoded = SMTPReplyReader()
        var raw = SMTPRawReplyReader()
        decoded.append(s(wire))
        raw.append(s(wire))
        for _ in 0..<2 {
            guard case .reply(let text) = decoded.next(), case .reply(let bytes) = raw.next() else {
                Issue.record("reply expected"); return
            }
            #expect(text.code == bytes.code)
            #expect(text.lines == bytes.lines.map { String(decoding: $0.content.dropFirst(4), as: UTF8.self) })
        }
        #expect(decoded.next() == .needMore)
        #expect(!decoded.hasBufferedBytes)
        decoded.append(s("250-partial\r\n"))
        #expect(decoded.next() == .needMore)
        #expect(decoded.hasBufferedBytes)
    }
}
