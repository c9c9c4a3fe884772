// swift-tools-version:6.0
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    // Imports are internal unless marked `public import`, so no C module leaks through a public API.
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "mailtunnel",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "mailtunnel", targets: ["mailtunnel"]),
        // For the fuzz package (Fuzz/Package.swift), which depends on this one by path.
        .library(name: "MailTunnelProtocols", targets: ["MailTunnelProtocols"]),
        .library(name: "MailTunnel", targets: ["MailTunnel"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C is confined to these four targets: OpenSSL and libsasl2 (with their forwards in CMailTunnelShims),
        // and the Linux calls the engine needs (CMailTunnelLinux).
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
        .target(name: "CMailTunnelLinux"),
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
                "MailTunnelTLS", "MailTunnelProtocols", "MailTunnelSASL", "CMailTunnelLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
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
        .testTarget(
            name: "MailTunnelTests",
            dependencies: [
                "MailTunnel",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "MailTunnelSASLTests", dependencies: ["MailTunnelSASL"], swiftSettings: strict),
    ]
)
