/// POP3: replies are -ERR with the RFC 3206 SYS/TEMP code; STLS per RFC 2595; no stages after TLS.
public struct POP3Profile: ProtocolProfile {
    public init() {}
    public var inferredPorts: [Int] { [995, 110] }
    public var unavailableReply: [UInt8]? { refusalReply("Mail service temporarily unavailable, try again later") }
    public func refusalReply(_ text: String) -> [UInt8]? { Array("-ERR [SYS/TEMP] \(text)\r\n".utf8) }
    public var shutdownReply: [UInt8]? { refusalReply("Server shutting down") }
    public func makeStartTLSDialogue() -> (any MailDialogue)? { POP3StartTLSDialogue() }
}
