/// PROXY protocol version 2: 16-byte binary preamble, address block, then TLVs.
enum ProxyV2 {
    private static let fixedLength = 16
    private enum Family: UInt8 { case unspec = 0, inet = 1, inet6 = 2, unix = 3 }
    private enum Transport: UInt8 { case unspec = 0, stream = 1, dgram = 2 }

    /// Address block size per family (proxy-protocol.txt 2.1).
    private static func addressLength(_ family: Family) -> Int {
        switch family {
        case .unspec: return 0
        case .inet: return 12
        case .inet6: return 36
        case .unix: return 216
        }
    }

    static func encode(_ header: ProxyHeader) -> [UInt8] {
        var out = ProxyProtocol.v2Signature
        guard header.command == .proxy else {
            out += [0x20, 0x00, 0x00, 0x00]  // LOCAL, UNSPEC, no payload: nothing else is meaningful
            return out
        }
        var body: [UInt8] = []
        var familyByte: UInt8 = 0x00
        if var source = header.source, var destination = header.destination {
            if source.address.isIPv6 != destination.address.isIPv6 {
                source.address = source.address.mappedIPv6
                destination.address = destination.address.mappedIPv6
            }
            familyByte = source.address.isIPv6 ? 0x21 : 0x11  // AF_INET6|STREAM or AF_INET|STREAM
            body += source.address.bytes + destination.address.bytes
            body += bigEndian16(source.port) + bigEndian16(destination.port)
        }
        if let ssl = header.ssl { body += tlv(ProxyProtocol.TLVType.ssl, sslValue(ssl)) }
        // The length field is 16 bits: a TLV that would overflow it is left out rather than trapping.
        for other in header.otherTLVs where body.count + 3 + other.value.count <= 0xFFFF {
            body += tlv(other.type, other.value)
        }
        out += [0x21, familyByte] + bigEndian16(UInt16(body.count)) + body
        return out
    }

    static func decode(_ bytes: ArraySlice<UInt8>, maxPayload: Int) -> ProxyDecodeResult {
        let signature = ProxyProtocol.v2Signature
        for i in 0..<min(bytes.count, signature.count) where bytes[bytes.startIndex + i] != signature[i] {
            return .invalid("PROXY v2: bad signature")
        }
        guard bytes.count >= fixedLength else { return .needMore }
        let base = bytes.startIndex
        let versionCommand = bytes[base + 12]
        guard versionCommand >> 4 == 2 else { return .invalid("PROXY v2: bad version") }
        guard let command: ProxyHeader.Command = versionCommand & 0x0F == 0 ? .local
                : versionCommand & 0x0F == 1 ? .proxy : nil else {
            return .invalid("PROXY v2: bad command")
        }
        guard let family = Family(rawValue: bytes[base + 13] >> 4),
              let transport = Transport(rawValue: bytes[base + 13] & 0x0F) else {
            return .invalid("PROXY v2: bad address family or transport")
        }
        let length = Int(bytes[base + 14]) << 8 | Int(bytes[base + 15])
        guard length <= maxPayload else { return .invalid("PROXY v2: length \(length) exceeds limit \(maxPayload)") }
        // Checked before waiting for the payload, so a short lie is refused without buffering.
        if command == .proxy && length < addressLength(family) {
            return .invalid("PROXY v2: length \(length) shorter than the address block")
        }
        if command == .proxy && (family == .inet || family == .inet6) && transport != .stream {
            return .invalid("PROXY v2: only STREAM transport is relayed")
        }
        let total = fixedLength + length
        guard bytes.count >= total else { return .needMore }
        // LOCAL: the spec says to skip the whole payload and use the real connection endpoints.
        guard command == .proxy else { return .header(.local, consumed: total) }

        let payload = Array(bytes[(base + fixedLength)..<(base + total)])
        var header = ProxyHeader(command: .proxy, source: nil, destination: nil)
        switch family {
        case .inet, .inet6:
            let size = family == .inet ? 4 : 16
            let source = IPAddress(bytes: Array(payload[0..<size]))!
            let destination = IPAddress(bytes: Array(payload[size..<(2 * size)]))!
            let ports = 2 * size
            header.source = SocketEndpoint(address: source, port: UInt16(payload[ports]) << 8 | UInt16(payload[ports + 1]))
            header.destination = SocketEndpoint(address: destination,
                                                port: UInt16(payload[ports + 2]) << 8 | UInt16(payload[ports + 3]))
        case .unspec, .unix:
            break  // no IP client to report; the engine keeps the real peer address
        }
        let tlvs: [ProxyTLV]
        switch parseTLVs(payload[addressLength(family)...]) {
        case .success(let parsed): tlvs = parsed
        case .failure(let error): return .invalid("PROXY v2: \(error.reason)")
        }
        for record in tlvs {
            if record.type == ProxyProtocol.TLVType.ssl && header.ssl == nil {
                switch parseSSL(record.value) {
                case .success(let ssl): header.ssl = ssl
                case .failure(let error): return .invalid("PROXY v2: SSL TLV: \(error.reason)")
                }
            } else {
                header.otherTLVs.append(record)
            }
        }
        return .header(header, consumed: total)
    }

    struct TLVError: Error { let reason: String }

    /// Every byte must belong to a whole TLV: trailing scraps mean the length field lied.
    private static func parseTLVs(_ bytes: ArraySlice<UInt8>) -> Result<[ProxyTLV], TLVError> {
        var records: [ProxyTLV] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            guard bytes.endIndex - i >= 3 else { return .failure(TLVError(reason: "truncated TLV header")) }
            let length = Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard bytes.endIndex - (i + 3) >= length else { return .failure(TLVError(reason: "TLV overruns the header")) }
            records.append(ProxyTLV(type: bytes[i], value: Array(bytes[(i + 3)..<(i + 3 + length)])))
            i += 3 + length
        }
        return .success(records)
    }

    private static func parseSSL(_ value: [UInt8]) -> Result<ProxySSLInfo, TLVError> {
        guard value.count >= 5 else { return .failure(TLVError(reason: "shorter than 5 bytes")) }
        let verify = value[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        var ssl = ProxySSLInfo(client: .init(rawValue: value[0]), verify: verify)
        switch parseTLVs(value[5...]) {
        case .failure(let error): return .failure(error)
        case .success(let subs):
            for sub in subs {
                let text = String(decoding: sub.value, as: UTF8.self)
                switch sub.type {
                case ProxyProtocol.TLVType.sslVersion: ssl.version = text
                case ProxyProtocol.TLVType.sslCN: ssl.commonName = text
                case ProxyProtocol.TLVType.sslCipher: ssl.cipher = text
                default: ssl.otherSubTLVs.append(sub)
                }
            }
        }
        return .success(ssl)
    }

    private static func sslValue(_ ssl: ProxySSLInfo) -> [UInt8] {
        var value: [UInt8] = [ssl.client.rawValue]
        value += [UInt8(ssl.verify >> 24), UInt8(ssl.verify >> 16 & 0xff), UInt8(ssl.verify >> 8 & 0xff), UInt8(ssl.verify & 0xff)]
        // Each text is capped (a CN is at most 64 characters by RFC 5280; a certificate that ignores that
        // must not make the header overflow its 16-bit length), so the SSL TLV always fits.
        if let version = ssl.version { value += tlv(ProxyProtocol.TLVType.sslVersion, capped(version)) }
        if let cn = ssl.commonName { value += tlv(ProxyProtocol.TLVType.sslCN, capped(cn)) }
        if let cipher = ssl.cipher { value += tlv(ProxyProtocol.TLVType.sslCipher, capped(cipher)) }
        for other in ssl.otherSubTLVs where value.count + 3 + other.value.count <= 0xFFFF - 3 - 36 {
            value += tlv(other.type, other.value)
        }
        return value
    }

    static let maxTextTLV = 255

    /// UTF-8 bytes of `text`, cut at a character boundary to at most `maxTextTLV` bytes.
    private static func capped(_ text: String) -> [UInt8] {
        var kept = Substring(text)
        while kept.utf8.count > maxTextTLV { kept = kept.dropLast() }
        return Array(kept.utf8)
    }

    private static func tlv(_ type: UInt8, _ value: [UInt8]) -> [UInt8] {
        [type] + bigEndian16(UInt16(value.count)) + value
    }

    private static func bigEndian16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xff)] }
}
