import FuzzSupport
import MailTunnelProtocols

/// The POP3 STLS dialogue, client and backend bytes interleaved (see `StartTLSDriver`).
@_cdecl("FuzzStartTLSPOP3_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    guard var dialogue = makeStartTLSDialogue(for: .pop3) else { violation("no POP3 dialogue") }
    StartTLSDriver(allowedVerbs: ["CAPA", "NOOP", "QUIT"]).run(&dialogue, &input)
    return 0
}
