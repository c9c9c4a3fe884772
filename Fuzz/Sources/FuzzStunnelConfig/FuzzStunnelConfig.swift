import FuzzSupport
@testable import MailTunnel

/// The stunnel.conf translator (internal API, through @testable: debug builds of the root package are built
/// with testability), then the native assembly of what it produced, as `--stunnel-config` does.
@_cdecl("FuzzStunnelConfig_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    let text = String(decoding: input.bytes, as: UTF8.self)
    let (translation, errors) = StunnelConfigTranslator.translate(text: text, file: "fuzz-stunnel.conf")
    _ = try? RunConfig.assemble(translation.listeners, daemon: DaemonSettings(), mode: .check, earlierErrors: errors)
    return 0
}
