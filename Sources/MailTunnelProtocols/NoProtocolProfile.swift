/// `protocol = none`: plain TLS wrapping. mailtunnel never speaks, so every reply is nil (the client is just closed).
public struct NoProtocolProfile: ProtocolProfile {
    public init() {}
    public var inferredPorts: [Int] { [] }
    public var unavailableReply: [UInt8]? { nil }
    public func refusalReply(_ text: String) -> [UInt8]? { nil }
    public var shutdownReply: [UInt8]? { nil }
    public func makeStartTLSDialogue() -> (any MailDialogue)? { nil }
}
