/// The application protocol a listener speaks; it decides STARTTLS dialogue, error replies and auth.
public enum MailProtocol: String, Sendable, CaseIterable, Equatable {
    case imap, pop3, smtp, none

    /// SPEC: inferred from the accept port when not given.
    public static func inferred(fromPort port: Int) -> MailProtocol {
        switch port {
        case 993, 143: return .imap
        case 995, 110: return .pop3
        case 465, 587, 25: return .smtp
        default: return .none
        }
    }

    /// What a client is told when no backend answers; nil means just close.
    public var unavailableReply: [UInt8]? {
        switch self {
        case .imap: return Array("* BYE [UNAVAILABLE] Mail service temporarily unavailable, try again later\r\n".utf8)
        case .pop3: return Array("-ERR [SYS/TEMP] Mail service temporarily unavailable, try again later\r\n".utf8)
        case .smtp: return Array("421 4.3.0 Mail service temporarily unavailable, try again later\r\n".utf8)
        case .none: return nil
        }
    }

    /// What a client is told when it is over a connection limit or refused by policy.
    public func refusalReply(_ text: String) -> [UInt8]? {
        switch self {
        case .imap: return Array("* BYE [UNAVAILABLE] \(text)\r\n".utf8)
        case .pop3: return Array("-ERR [SYS/TEMP] \(text)\r\n".utf8)
        case .smtp: return Array("421 4.7.0 \(text)\r\n".utf8)
        case .none: return nil
        }
    }

    /// Goodbye sent when the daemon stops while a session is live.
    public var shutdownReply: [UInt8]? {
        switch self {
        case .imap: return Array("* BYE [UNAVAILABLE] Server shutting down\r\n".utf8)
        case .pop3: return Array("-ERR [SYS/TEMP] Server shutting down\r\n".utf8)
        case .smtp: return Array("421 4.3.2 Server shutting down\r\n".utf8)
        case .none: return nil
        }
    }
}
