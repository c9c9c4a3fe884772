import MailTunnelProtocols

/// Bytes of an ASCII string.
func b(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Bytes of an ASCII string as the slice the dialogue API takes.
func s(_ text: String) -> ArraySlice<UInt8> { Array(text.utf8)[...] }

func toClient(_ text: String) -> DialogueAction { .sendToClient(b(text)) }
func toBackend(_ text: String) -> DialogueAction { .sendToBackend(b(text)) }

/// Feeds `input` to the client side in two calls split at `split`, returning all actions in order.
func feedClient<D: MailDialogue>(_ dialogue: inout D, _ input: [UInt8], splitAt split: Int) -> [DialogueAction] {
    dialogue.receiveFromClient(input[..<split]) + dialogue.receiveFromClient(input[split...])
}

/// Feeds `input` to the backend side in two calls split at `split`.
func feedBackend<D: MailDialogue>(_ dialogue: inout D, _ input: [UInt8], splitAt split: Int) -> [DialogueAction] {
    dialogue.receiveFromBackend(input[..<split]) + dialogue.receiveFromBackend(input[split...])
}

/// True when any action sends bytes to the backend.
func sendsToBackend(_ actions: [DialogueAction]) -> Bool {
    actions.contains { if case .sendToBackend = $0 { return true } else { return false } }
}

/// A TLS 1.2-style ClientHello record start.
let clientHelloBytes: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03]
