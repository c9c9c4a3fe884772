import CFuzzDriver

/// SwiftPM links a debug executable with `main` renamed to `<Target>_main` (so tests can link the module), and
/// `-parse-as-library` leaves no `main` of ours: each target defines `<Target>_main` with `@_cdecl` and calls this,
/// which runs libFuzzer's driver on the target's `LLVMFuzzerTestOneInput`.
public func runFuzzer(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}
