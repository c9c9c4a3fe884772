/// Everything that differs between IMAP, POP3, SMTP and `none`, in one table per protocol (stunnel's protocol.c):
/// the ports a protocol is inferred from, every reply mailtunnel itself sends, the STARTTLS dialogue, the stages
/// that run after TLS, and the filter that watches relayed bytes. The engine asks the profile; it never tests
/// which protocol a listener speaks.
public protocol ProtocolProfile: Sendable {
    /// Accept ports that imply this protocol when `protocol` is not given (SPEC).
    var inferredPorts: [Int] { get }
    /// What a client is told when no backend answers; nil means just close.
    var unavailableReply: [UInt8]? { get }
    /// What a client is told when it is refused (a connection limit, a certificate, a handshake timeout).
    func refusalReply(_ text: String) -> [UInt8]?
    /// Goodbye sent when the daemon stops while a session is live.
    var shutdownReply: [UInt8]? { get }
    /// The authenticator could not be started (SASL unavailable).
    var temporaryAuthFailureReply: [UInt8]? { get }
    /// This client already has too many credential checks waiting for a worker.
    var authenticationBusyReply: [UInt8]? { get }
    /// The hand-over that tells the backend who the client is could not be prepared.
    var handoverFailureReply: [UInt8]? { get }
    /// The plaintext dialogue up to the TLS upgrade; nil for a protocol without STARTTLS.
    func makeStartTLSDialogue() -> (any MailDialogue)?
    /// The stages this protocol runs after TLS and before relaying, in order.
    func stagesAfterTLS(_ settings: SessionSettings) -> [SessionStage]
    /// Starts one of those stages. `afterDialogue`: an earlier dialogue already showed the client a greeting.
    func openStage(_ stage: SessionStage, settings: SessionSettings, afterDialogue: Bool, facts: SessionFacts)
        throws(StageFailure) -> StageOpening
    /// `auth = sasl|certificate` can gate this protocol's sessions (the configuration refuses it elsewhere).
    var supportsAuthGate: Bool { get }
    /// `xclient = yes` can tell this protocol's backend who the client is.
    var supportsXCLIENT: Bool { get }
    /// The filter for a relay that starts without a dialogue handing one over; nil relays bytes untouched.
    /// `fromGreeting`: the relay starts with the backend's greeting (no dialogue ran before it).
    func makeRelayFilter(fromGreeting: Bool) -> (any RelayFilter)?
}

/// A stage of a session between the backend connect and the relay; each runs a `MailDialogue`.
public enum SessionStage: Sendable, Equatable {
    /// The plaintext dialogue up to STARTTLS (and its end inside TLS).
    case startTLS
    /// mailtunnel conducts AUTH itself (SMTP `auth = sasl|certificate`).
    case authGate
    /// The backend learns the client's address before the client's session (SMTP `xclient = yes` without a gate).
    case handover
}

/// How the client must prove who it is before its session reaches the backend.
public enum ClientAuthentication: Sendable, Equatable { case none, sasl, certificate }

/// A listener's settings that decide which stages run.
public struct SessionSettings: Sendable, Equatable {
    public var starttls: Bool
    public var authentication: ClientAuthentication
    public var xclient: Bool
    /// `starttls = optional`: a client that never upgrades may still send mail under `relayRules`.
    public var starttlsOptional: Bool
    /// SMTP: who may relay where (`local-domains`, `trusted-networks`, `sender-login-map`).
    public var relayRules: SMTPRelayRules

    public init(starttls: Bool, authentication: ClientAuthentication, xclient: Bool, starttlsOptional: Bool = false,
                relayRules: SMTPRelayRules = .none) {
        self.starttls = starttls
        self.authentication = authentication
        self.xclient = xclient
        self.starttlsOptional = starttlsOptional
        self.relayRules = relayRules
    }
}

/// What the engine knows about the client when a stage starts.
public struct SessionFacts {
    public var client: SocketEndpoint?
    public var certificateIdentity: String?
    public var attemptPolicy: (any AuthAttemptPolicy)?
    /// The client's address (after PROXY) is in `trusted-networks`.
    public var trusted: Bool
    /// Starts the SASL server (lives in the engine: it needs libsasl2 and the sockets' addresses).
    public var makeAuthenticator: () throws -> any SMTPAuthenticator

    public init(client: SocketEndpoint?, certificateIdentity: String?, attemptPolicy: (any AuthAttemptPolicy)?,
                trusted: Bool = false, makeAuthenticator: @escaping () throws -> any SMTPAuthenticator) {
        self.client = client
        self.trusted = trusted
        self.certificateIdentity = certificateIdentity
        self.attemptPolicy = attemptPolicy
        self.makeAuthenticator = makeAuthenticator
    }
}

/// A started stage: its dialogue and what it does at once (a hand-over after STARTTLS speaks first).
public struct StageOpening {
    public var dialogue: any MailDialogue
    public var actions: [DialogueAction]

    public init(dialogue: any MailDialogue, actions: [DialogueAction] = []) {
        self.dialogue = dialogue
        self.actions = actions
    }
}

/// A stage that could not start: the connection is refused with `reply`.
public struct StageFailure: Error {
    /// For the connection's log line ("SASL unavailable").
    public var reason: String
    public var reply: [UInt8]?
    /// Why, for an error line of its own; nil when the reason says it all.
    public var detail: String?

    public init(reason: String, reply: [UInt8]?, detail: String? = nil) {
        self.reason = reason
        self.reply = reply
        self.detail = detail
    }
}

extension ProtocolProfile {
    public var supportsAuthGate: Bool { false }
    public var supportsXCLIENT: Bool { false }

    /// The stage after `previous` (nil: the backend just answered), or nil when the session is ready to relay.
    public func nextStage(after previous: SessionStage?, _ settings: SessionSettings) -> SessionStage? {
        let plan = (settings.starttls ? [SessionStage.startTLS] : []) + stagesAfterTLS(settings)
        guard let previous else { return plan.first }
        guard let index = plan.firstIndex(of: previous), index + 1 < plan.count else { return nil }
        return plan[index + 1]
    }

    public var temporaryAuthFailureReply: [UInt8]? { nil }
    public var authenticationBusyReply: [UInt8]? { nil }
    public var handoverFailureReply: [UInt8]? { nil }
    public func stagesAfterTLS(_ settings: SessionSettings) -> [SessionStage] { [] }
    public func makeRelayFilter(fromGreeting: Bool) -> (any RelayFilter)? { nil }

    /// Profiles without stages of their own only know STARTTLS.
    public func openStage(_ stage: SessionStage, settings: SessionSettings, afterDialogue: Bool, facts: SessionFacts)
        throws(StageFailure) -> StageOpening {
        guard stage == .startTLS, let dialogue = makeStartTLSDialogue() else {
            throw StageFailure(reason: "stage unavailable", reply: unavailableReply)
        }
        return StageOpening(dialogue: dialogue)
    }
}
