// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "mailtunnel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mailtunnel", targets: ["mailtunnel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C is confined to these three targets.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CSASL",
            pkgConfig: "libsasl2",
            providers: [.apt(["libsasl2-dev"])]
        ),
        .target(
            name: "CMailTunnelShims",
            dependencies: ["COpenSSL", "CSASL"]
        ),
        .target(
            name: "MailTunnelTLS",
            dependencies: ["CMailTunnelShims", "COpenSSL"],
            swiftSettings: strict
        ),
        .target(
            name: "MailTunnelProtocols",
            swiftSettings: strict
        ),
        .target(
            name: "MailTunnelSASL",
            dependencies: ["CMailTunnelShims", "CSASL", "MailTunnelProtocols"],
            swiftSettings: strict
        ),
        .target(
            name: "MailTunnel",
            dependencies: [
                "MailTunnelTLS", "MailTunnelProtocols", "MailTunnelSASL", "CMailTunnelShims",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "mailtunnel",
            dependencies: [
                "MailTunnel",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "MailTunnelProtocolsTests", dependencies: ["MailTunnelProtocols"], swiftSettings: strict),
        .testTarget(name: "MailTunnelTLSTests", dependencies: ["MailTunnelTLS"], swiftSettings: strict),
        .testTarget(name: "MailTunnelTests", dependencies: ["MailTunnel"], swiftSettings: strict),
        .testTarget(name: "MailTunnelSASLTests", dependencies: ["MailTunnelSASL"], swiftSettings: strict),
    ]
)
