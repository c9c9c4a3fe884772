/// The application protocol a listener speaks. What each one means to the engine is its `profile`.
public enum MailProtocol: String, Sendable, CaseIterable, Equatable {
    case imap, pop3, smtp, none

    /// The table of hooks for this protocol: the one place where the protocols differ.
    public var profile: any ProtocolProfile {
        switch self {
        case .imap: return IMAPProfile()
        case .pop3: return POP3Profile()
        case .smtp: return SMTPProfile()
        case .none: return NoProtocolProfile()
        }
    }

    /// SPEC: inferred from the accept port when not given.
    public static func inferred(fromPort port: Int) -> MailProtocol {
        allCases.first { $0.profile.inferredPorts.contains(port) } ?? .none
    }
}
