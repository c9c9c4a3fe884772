/// Recognises a TLS ClientHello sent to a plaintext STARTTLS port (a client configured for implicit TLS).
///
/// Why only the first two bytes: a TLS record starts with content type 0x16 (handshake) and major version 0x03;
/// no IMAP tag, POP3 or SMTP verb starts with a control byte, so this cannot misfire on a real command. Answering
/// such a client in plaintext would only feed garbage to its TLS stack, so the dialogue closes without a reply.
struct ClientHelloDetector: Sendable {
    enum Verdict: Equatable, Sendable { case undecided, clientHello, plaintext }

    private var state: Verdict = .undecided
    private var sawHandshakeByte = false

    mutating func inspect(_ bytes: ArraySlice<UInt8>) -> Verdict {
        guard state == .undecided else { return state }
        for byte in bytes {
            if sawHandshakeByte {
                state = byte == 0x03 ? .clientHello : .plaintext
                return state
            }
            guard byte == 0x16 else {
                state = .plaintext
                return state
            }
            sawHandshakeByte = true
        }
        return state
    }

    static let closeReason = "TLS ClientHello on a STARTTLS port"
}
