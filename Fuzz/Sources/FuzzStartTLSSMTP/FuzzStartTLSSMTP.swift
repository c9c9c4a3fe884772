import FuzzSupport
import MailTunnelProtocols

/// The SMTP STARTTLS dialogue, client and backend bytes interleaved (see `StartTLSDriver`).
@_cdecl("FuzzStartTLSSMTP_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    guard var dialogue = makeStartTLSDialogue(for: .smtp) else { violation("no SMTP dialogue") }
    StartTLSDriver(allowedVerbs: ["EHLO", "HELO", "NOOP", "RSET", "QUIT"]).run(&dialogue, &input)
    return 0
}
