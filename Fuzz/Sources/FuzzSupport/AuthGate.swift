import MailTunnelProtocols

/// A trivial SASL authenticator: PLAIN and LOGIN, any user name (taken from the client's bytes, so whatever the
/// fuzzer writes there reaches XCLIENT LOGIN=), password "pass".
public final class TrivialAuthenticator: SMTPAuthenticator {
    var loginUser: [UInt8]?
    var mechanism = ""
    public init() {}
    public func mechanisms() -> [String] { ["PLAIN", "LOGIN"] }
    public func start(mechanism: String, initialResponse: [UInt8]?) -> SMTPAuthStep {
        self.mechanism = mechanism.uppercased()
        switch self.mechanism {
        case "PLAIN":
            guard let initialResponse else { return .challenge([]) }
            return step(response: initialResponse)
        case "LOGIN":
            loginUser = nil
            return .challenge(Array("Username:".utf8))
        default:
            return .failure(.unsupportedMechanism)
        }
    }
    public func step(response: [UInt8]) -> SMTPAuthStep {
        if mechanism == "LOGIN" {
            guard let user = loginUser else {
                loginUser = response
                return .challenge(Array("Password:".utf8))
            }
            return response == Array("pass".utf8) ? .success(user: String(decoding: user, as: UTF8.self))
                                                  : .failure(.invalidCredentials)
        }
        let parts = response.split(separator: 0, omittingEmptySubsequences: false)
        guard parts.count == 3, Array(parts[2]) == Array("pass".utf8) else { return .failure(.invalidCredentials) }
        return .success(user: String(decoding: parts[1], as: UTF8.self))
    }
}

/// Plays a fuzz input against `SMTPAuthGateDialogue` (SASL mode with `TrivialAuthenticator`) and checks:
/// - nothing happens after `.close`;
/// - what goes to the backend is whole lines (LF-terminated), each checked as the backend reads it (up to LF);
/// - before the client has authenticated, only EHLO/HELO lines reach the backend;
/// - XCLIENT lines only after authentication and only with `xclient`; XFORWARD or STARTTLS never;
/// - after `.relay` the dialogue hands over a relay filter.
/// The bytes of the batch that ends in `.relay` went through the relay guard and are not checked here.
/// With `local-domains` (flag bit 2, issue 13) an unauthenticated client's first transaction command hands the
/// session over too: then XCLIENT goes without LOGIN=, and the relay filter holds the session to example.org.
/// Input: one flags byte (bit 0: xclient, bit 1: the greeting already reached the client, bit 2: local-domains
/// example.org), then records.
public func runAuthGate(_ input: inout FuzzInput) {
    let flags = input.byte()
    let xclient = flags & 1 != 0
    let localDomains = flags & 4 != 0
    var gate = SMTPAuthGateDialogue(
        mode: .sasl, authenticator: TrivialAuthenticator(),
        client: SocketEndpoint(address: IPAddress.v4(192, 0, 2, 7), port: 40000),
        certificateIdentity: nil, xclient: xclient, failureLimit: 3, backendGreeted: flags & 2 != 0,
        relayRules: SMTPRelayRules(authenticationRequired: true,
                                   localDomains: localDomains ? try? LocalDomains(["example.org"]) : nil))
    var handingOverUnauthenticated = false
    var closed = false
    while let step = input.nextStep() {
        let actions: [DialogueAction]
        switch step {
        case .client(let bytes):
            _ = gate.mayBlock(clientBytes: bytes)
            actions = gate.receiveFromClient(bytes)
        case .backend(let bytes): actions = gate.receiveFromBackend(bytes)
        case .backendClosed: actions = gate.backendClosed()
        case .tlsEstablished: actions = gate.tlsEstablished()
        }
        if closed && !actions.isEmpty { violation("actions after close: \(actions)") }
        // The batch that ends in `.relay` carries what the client pipelined behind the completing command, already
        // passed through the relay guard (`admit`): partial lines and message content are legitimate there, and
        // the guard's own invariant is the relay-guard target's job.
        let handingOver = actions.contains(.relay)
        for action in actions {
            switch action {
            case .sendToBackend where handingOver:
                break
            case .sendToBackend(let bytes):
                guard bytes.last == 0x0A else { violation("partial line to the backend", bytes) }
                for line in bytes.split(separator: 0x0A) {
                    let verb = String(decoding: line.prefix { $0 != 0x20 && $0 != 0x0D }, as: UTF8.self).uppercased()
                    let hasLogin = String(decoding: line, as: UTF8.self).contains("LOGIN=")
                    let unauthenticatedXCLIENT = localDomains && xclient && verb.hasPrefix("XCLIENT") && !hasLogin
                    if unauthenticatedXCLIENT { handingOverUnauthenticated = true }
                    if gate.authenticatedUser == nil && verb != "EHLO" && verb != "HELO" && !handingOverUnauthenticated {
                        violation("\(verb) reached the backend before authentication", bytes)
                    }
                    if verb.hasPrefix("XCLIENT") && !(xclient && (gate.authenticatedUser != nil || unauthenticatedXCLIENT)) {
                        violation("XCLIENT without a hand-over", bytes)
                    }
                    if verb.hasPrefix("XCLIENT") && gate.authenticatedUser == nil && hasLogin {
                        violation("XCLIENT LOGIN= for an unauthenticated client", bytes)
                    }
                    if verb.hasPrefix("XFORWARD") || verb.hasPrefix("STARTTLS") { violation("\(verb) sent", bytes) }
                }
            case .relay:
                guard let filter = gate.takeRelayGuard() else { violation("relay without a relay guard") }
                if gate.authenticatedUser == nil && !(localDomains && filter.policy.recipients != nil) {
                    violation("relay before authentication without the local-domains policy")
                }
                return
            case .close:
                closed = true
            default:
                break
            }
        }
    }
}
