import FuzzSupport

/// The SMTP relay guard against a model backend that reads its output as Postfix would (see `runRelayGuard`).
@_cdecl("FuzzRelayGuard_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    runRelayGuard(&input)
    return 0
}
