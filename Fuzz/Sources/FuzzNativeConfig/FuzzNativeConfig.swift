import FuzzSupport
import MailTunnel

/// The native config parser and the whole assembly behind it (`RunConfig.parse`: sections, keys, values,
/// validation). Any thrown `ConfigErrors` is a fine answer; a crash or a trap is not.
@_cdecl("FuzzNativeConfig_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = FuzzInput(data, size)
    let text = String(decoding: input.bytes, as: UTF8.self)
    let (_, _) = ConfigFileParser.parse(text: text, file: "fuzz.conf")
    do {
        _ = try RunConfig.parse(configText: text, file: "fuzz.conf")
    } catch {
        _ = error.errors.map(\.description)
    }
    return 0
}
