#if canImport(Glibc)
import Glibc
#endif

/// The two peers of a connection, as log lines name them.
enum Side: String, Sendable {
    case client, backend
}

/// Why a connection ended. Rendered once, for the `reason=` field of the connection's log line (and, capitalised,
/// for a refusal the client reads); the texts are part of the log format operators and tests rely on.
enum EndReason: Equatable, Sendable, CustomStringConvertible {
    /// The peer closed its side (or, in the relay, the first side that did).
    case closedBy(Side)
    case reset(Side)
    /// A socket call failed with this errno.
    case socketError(Side, Int32)
    case clientTLSError([String])
    /// Client mode: TLS towards the server broke while relaying.
    case serverTLSError([String])
    /// Client mode: TLS towards the server could not be set up (no STARTTLS, a certificate that does not verify).
    case serverTLSFailed(String)
    case handshakeFailed([String])
    case tlsSessionUnavailable(String)
    case noTLSContext
    /// The loop could not watch the socket.
    case notWatched(Side, String)
    case proxyHeaderTimeout
    case handshakeTimeout
    case idleTimeout
    case untrustedProxyPeer
    case closedBeforeProxyHeader
    case proxyHeaderUnreadable
    case badProxyHeader(String)
    case backendUnavailable
    /// Over a connection limit (the admission's words).
    case refused(String)
    case certificateRequired
    case subjectNotAllowed(String)
    /// A dialogue closed the connection, in its own words.
    case dialogue(String)
    /// The relay filter lost track of the session, in its own words.
    case relayFilter(String)
    /// A stage (the auth gate, the XCLIENT hand-over) could not start.
    case stageUnavailable(String)
    case authenticationsPending
    case shutdown
    /// Both sides finished without either closing first (not expected, kept for the record).
    case closed

    var description: String {
        switch self {
        case .closedBy(let side): return "\(side.rawValue) closed"
        case .reset(let side): return "\(side.rawValue) reset"
        case .socketError(let side, let code): return "\(side.rawValue) error: \(String(cString: strerror(code)))"
        case .clientTLSError(let reasons): return "client TLS error: \(reasons.joined(separator: "; "))"
        case .serverTLSError(let reasons): return "server TLS error: \(reasons.joined(separator: "; "))"
        case .serverTLSFailed(let why): return "server TLS failed: \(why)"
        case .handshakeFailed(let reasons):
            return "handshake failed: \(reasons.isEmpty ? "connection closed" : reasons.joined(separator: "; "))"
        case .tlsSessionUnavailable(let error): return "TLS session: \(error)"
        case .noTLSContext: return "no TLS context"
        case .notWatched(.client, let error): return error
        case .notWatched(.backend, let error): return "backend \(error)"
        case .proxyHeaderTimeout: return "PROXY header timeout"
        case .handshakeTimeout: return "handshake timeout"
        case .idleTimeout: return "idle timeout"
        case .untrustedProxyPeer: return "PROXY header from untrusted peer"
        case .closedBeforeProxyHeader: return "client closed before its PROXY header"
        case .proxyHeaderUnreadable: return "client error while reading its PROXY header"
        case .badProxyHeader(let why): return "bad PROXY header: \(why)"
        case .backendUnavailable: return "backend unavailable"
        case .refused(let text): return text
        case .certificateRequired: return "client certificate required"
        case .subjectNotAllowed(let subject): return "certificate subject not allowed: \(subject)"
        case .dialogue(let text), .relayFilter(let text), .stageUnavailable(let text): return text
        case .authenticationsPending: return "too many pending authentications"
        case .shutdown: return "shutdown"
        case .closed: return "closed"
        }
    }

    /// What the listener's counters count this end as.
    var outcome: ConnectionOutcome {
        switch self {
        case .handshakeFailed, .handshakeTimeout: return .handshakeFailed
        case .backendUnavailable: return .backendUnavailable
        case .refused, .authenticationsPending: return .refused
        default: return .ended
        }
    }

    /// The text a refused client reads in the protocol's refusal reply ("Handshake timeout").
    var refusalText: String { description.prefix(1).uppercased() + description.dropFirst() }
}
