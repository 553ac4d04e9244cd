// swift-tools-version:6.0
import PackageDescription

// Module graph, one way only:
//   CZlib ─► PFlowCapture (files) ─┐
//   PFlowWire (decoder) ──┼─► PFlowFlows ─► PFlowReport ─► pflow (CLI)
//   CPlatform (prefetch, mremap) ─┘
//   CPcap ─► PFlowLive (libpcap) ───────────────────────────┘
// Capture, wire and flow code build and test without libpcap. No package
// dependencies: the CLI parses its dozen options itself (Sources/pflow/Options.swift).
let package = Package(
    name: "pflow",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pflow", targets: ["pflow"]),
    ],
    targets: [
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "PFlowCapture", dependencies: ["CZlib"]),
        .target(name: "PFlowWire"),
        // DWARF 4, so valgrind (callgrind, for instruction counts) reads the debug info.
        .target(name: "CPlatform", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        .target(name: "PFlowFlows", dependencies: ["PFlowWire", "CPlatform"]),
        .target(name: "PFlowReport", dependencies: ["PFlowCapture", "PFlowWire", "PFlowFlows"]),
        .target(name: "PFlowLive", dependencies: ["CPcap"]),
        .executableTarget(
            name: "pflow",
            dependencies: ["PFlowReport", "PFlowLive"]
        ),
        .testTarget(
            name: "PFlowTests",
            dependencies: ["PFlowCapture", "PFlowWire", "PFlowFlows", "PFlowReport", "PFlowLive"],
            resources: [.copy("Golden")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
