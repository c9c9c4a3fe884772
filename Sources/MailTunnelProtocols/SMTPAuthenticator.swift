/// What the SMTP auth gate needs from a SASL implementation. MailTunnelSASL's `SASLServer` conforms;
/// tests use a fake. Data is raw bytes: the gate does the RFC 4954 base64 on both directions, so an
/// authenticator never sees wire encoding and the gate alone decides what a malformed line is.
///
/// A class protocol: one instance is one libsasl2 connection, shared by whoever holds it.
public protocol SMTPAuthenticator: AnyObject {
    /// Mechanism names to advertise in `AUTH …`, in the order to advertise them.
    func mechanisms() -> [String]
    /// Begins an exchange. `initialResponse` is nil when the client gave none, `[]` for RFC 4954's "=".
    func start(mechanism: String, initialResponse: [UInt8]?) -> SMTPAuthStep
    /// Continues an exchange with the client's decoded response to the last challenge.
    func step(response: [UInt8]) -> SMTPAuthStep
}

/// One step of a SASL exchange.
public enum SMTPAuthStep: Equatable, Sendable {
    /// Authenticated as `user`. `additionalData` is the mechanism's final server data, if any
    /// (RFC 4954: sent as one more 334 that the client answers with an empty line).
    case success(user: String, additionalData: [UInt8]? = nil)
    /// Send this challenge (as `334 base64`) and wait for the client's response.
    case challenge([UInt8])
    case failure(SMTPAuthFailure)
}

/// Why authentication did not succeed, as the client is told.
public enum SMTPAuthFailure: Error, Equatable, Sendable {
    /// Wrong credentials, unknown user, or not allowed to act as the requested authorization identity.
    case invalidCredentials
    /// Mechanism not offered / not known.
    case unsupportedMechanism
    /// The mechanism is too weak for this connection's policy.
    case mechanismTooWeak
    /// The mechanism needs encryption or a password transition (RFC 4954 432).
    case passwordTransitionNeeded
    /// Anything else: a backend or configuration problem. The detail is for the log line, not the client.
    case temporary(detail: String)

    /// The exact RFC 4954 / RFC 3463 reply line, CRLF included.
    public var reply: String {
        switch self {
        case .invalidCredentials: return "535 5.7.8 Authentication credentials invalid\r\n"
        case .unsupportedMechanism: return "504 5.5.4 Unrecognized authentication type\r\n"
        case .mechanismTooWeak: return "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
        case .passwordTransitionNeeded: return "432 4.7.12 A password transition is needed\r\n"
        case .temporary: return "454 4.7.0 Temporary authentication failure\r\n"
        }
    }
}
