import FuzzSupport
import MailTunnelProtocols

/// Client mode's upgrade towards a server (`StartTLSClientDialogue`): the first byte picks SMTP, IMAP or POP3,
/// the records are what the server sends, split where the input says (backend records; 0xFF: the server closes).
/// After a failure the input goes on being fed: nothing may happen any more.
@_cdecl("FuzzStartTLSClient_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

private let commands: [MailProtocol: [[UInt8]]] = [
    .smtp: [Array("EHLO fuzz.example\r\n".utf8), Array("STARTTLS\r\n".utf8)],
    .imap: [Array("C1 CAPABILITY\r\n".utf8), Array("C2 STARTTLS\r\n".utf8)],
    .pop3: [Array("CAPA\r\n".utf8), Array("STLS\r\n".utf8)],
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let proto: MailProtocol = [.smtp, .imap, .pop3][Int(input.byte() % 3)]
    guard var dialogue = StartTLSClientDialogue(protocol: proto, clientName: "fuzz.example") else {
        violation("no client dialogue for \(proto)")
    }
    let expected = commands[proto]!
    var sent = 0
    var ended = false
    var upgraded = false
    var fed: [UInt8] = []
    // As the engine does: once TLS starts, the socket belongs to OpenSSL and the dialogue is fed nothing more.
    while !upgraded, let step = input.nextStep() {
        let actions: [StartTLSClientDialogue.Action]
        switch step {
        case .backend(let bytes), .client(let bytes):
            fed += bytes
            actions = dialogue.receive(bytes)
        case .backendClosed, .tlsEstablished:
            actions = dialogue.serverClosed()
        }
        for action in actions {
            if ended { violation("an action after a failure or after TLS started", fed) }
            switch action {
            case .send(let command):
                // Only mailtunnel's own two commands, in order: never anything else in plaintext.
                guard sent < expected.count, command == expected[sent] else { violation("unexpected command", command) }
                sent += 1
            case .startTLS:
                guard sent == 2 else { violation("TLS before both commands were sent", fed) }
                // The upgrade reply must be the last plaintext byte the server sent.
                guard fed.last == UInt8(ascii: "\n") else { violation("TLS with unread plaintext", fed) }
                let keyword = Array((proto == .pop3 ? "STLS" : "STARTTLS").utf8)
                let upper = fed.map { $0 >= 0x61 && $0 <= 0x7a ? $0 - 32 : $0 }
                guard upper.indices.contains(where: { upper[$0...].starts(with: keyword) }) else {
                    violation("TLS although the server never offered it", fed)
                }
                ended = true
                upgraded = true
            case .fail:
                ended = true
            }
        }
    }
    return 0
}
