/// IMAP: replies are untagged BYE with a response code; STARTTLS per RFC 3501; no stages after TLS.
public struct IMAPProfile: ProtocolProfile {
    public init() {}
    public var inferredPorts: [Int] { [993, 143] }
    public var unavailableReply: [UInt8]? { refusalReply("Mail service temporarily unavailable, try again later") }
    public func refusalReply(_ text: String) -> [UInt8]? { Array("* BYE [UNAVAILABLE] \(text)\r\n".utf8) }
    public var shutdownReply: [UInt8]? { refusalReply("Server shutting down") }
    public func makeStartTLSDialogue() -> (any MailDialogue)? { IMAPStartTLSDialogue() }
}
