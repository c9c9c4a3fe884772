import FuzzSupport
import MailTunnelProtocols

/// The PROXY v1/v2 decoder. Checks: `consumed` lies within the input and the decision does not change when
/// more bytes follow the header (it never looks past it); a prefix of a header is `needMore` or the same
/// `invalid`, never a different header; a decoded header re-encodes and decodes to itself (v1 drops TLVs).
/// The first byte chooses the v2 payload cap.
@_cdecl("FuzzProxyProtocol_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv, fuzzTest)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var input = FuzzInput(data, size)
    let cap = Int(input.byte()) * 64
    let bytes = Array(input.rest())
    let result = ProxyProtocol.decode(bytes[...], maxV2Payload: cap)
    switch result {
    case .needMore:
        break
    case .invalid:
        if ProxyProtocol.decode((bytes + [0x0D, 0x0A, 0x00])[...], maxV2Payload: cap) != result {
            violation("an invalid header became valid with more bytes", bytes)
        }
    case .header(let header, let consumed):
        guard consumed > 0, consumed <= bytes.count else { violation("consumed \(consumed) of \(bytes.count)", bytes) }
        let head = Array(bytes[..<consumed])
        if ProxyProtocol.decode((head + [0x41, 0x42, 0x43])[...], maxV2Payload: cap) != .header(header, consumed: consumed) {
            violation("the decision depends on bytes after the header", bytes)
        }
        for cut in [1, consumed / 2, consumed - 1] where cut > 0 && cut < consumed {
            if case .header = ProxyProtocol.decode(head[..<cut], maxV2Payload: cap) {
                violation("a prefix of \(cut) bytes decoded as a header", bytes)
            }
        }
        let version: ProxyProtocol.Version = bytes.first == UInt8(ascii: "P") ? .v1 : .v2
        let encoded = ProxyProtocol.encode(header, version: version)
        if case .header(let again, let used) = ProxyProtocol.decode(encoded[...], maxV2Payload: max(cap, encoded.count)),
           used == encoded.count {
            if version == .v2 && again != header { violation("v2 re-encoding changed the header", bytes) }
        } else if version == .v2 {
            violation("the re-encoded v2 header does not decode", encoded)
        }
    }
    return 0
}
