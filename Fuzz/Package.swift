// swift-tools-version:6.0
// libFuzzer targets for mailtunnel's parsers and state machines. A package of its own so the root package's
// `swift build` / `swift test` never see it. Build (Scripts/fuzz does this):
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
//       --package-path Fuzz --scratch-path Fuzz/.build
import PackageDescription

let settings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

/// One executable per fuzz target: a single `LLVMFuzzerTestOneInput`, libFuzzer supplies `main`.
let fuzzTargets = [
    "FuzzStartTLSIMAP", "FuzzStartTLSPOP3", "FuzzStartTLSSMTP", "FuzzRelayGuard", "FuzzAuthGate",
    "FuzzProxyProtocol", "FuzzNativeConfig", "FuzzStunnelConfig", "FuzzStartTLSClient",
    "FuzzSMTPAddress",
]

let package = Package(
    name: "mailtunnel-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "mailtunnel", path: "..")],
    targets: [
        .target(name: "CFuzzDriver"),
        .target(
            name: "FuzzSupport",
            dependencies: ["CFuzzDriver", .product(name: "MailTunnelProtocols", package: "mailtunnel")],
            swiftSettings: settings
        ),
    ] + fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                "FuzzSupport",
                .product(name: "MailTunnelProtocols", package: "mailtunnel"),
            ] + (name.hasSuffix("Config") ? [.product(name: "MailTunnel", package: "mailtunnel")] : []),
            swiftSettings: settings
        )
    }
)
