// swift-tools-version:6.0
import PackageDescription

// Module graph, one way only:
//   CZlib ─► PFlowCapture (files) ─┐
//   PFlowWire (decoder) ──┼─► PFlowFlows ─► PFlowEngine ─► PFlowOutput ─► pflow (CLI)
//   CPlatform (prefetch, mremap) ─┘
//   CPcap (header), CPcapLoader ─► PFlowLive (libpcap, loaded when first used) ──┘
//   CZlib, CPlatform ─► PFlowParquet (Parquet file writer) ─► PFlowOutput (--parquet)
//   PFlowCore ─► PFlowExport (Community ID, IPFIX, conn.log) ─► PFlowOutput (--ipfix, --conn-log)
// Capture, wire and flow code build and test without libpcap. No package
// dependencies: the CLI parses its dozen options itself (Sources/pflow/Options.swift).
// Swift code here uses neither concurrency nor regexes: without their
// implicit imports the binary doesn't load those runtime libraries, which
// takes ~1.5 ms off every run.
let lean: [SwiftSetting] = [.unsafeFlags(["-Xfrontend", "-disable-implicit-concurrency-module-import",
                                          "-Xfrontend", "-disable-implicit-string-processing-module-import"])]

let package = Package(
    name: "pflow",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pflow", targets: ["pflow"]),
    ],
    targets: [
        // libpcap's header only (pcap/pcap.h, from libpcap-dev): the library
        // itself is not linked but loaded by CPcapLoader when first used.
        .systemLibrary(
            name: "CPcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "PFlowCore", swiftSettings: lean),
        .target(name: "PFlowCapture", dependencies: ["PFlowCore", "CZlib"], swiftSettings: lean),
        .target(name: "PFlowWire", dependencies: ["PFlowCore"], swiftSettings: lean),
        // DWARF 4, so valgrind (callgrind, for instruction counts) reads the debug info.
        .target(name: "CPlatform", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        .target(name: "PFlowFlows", dependencies: ["PFlowCore", "PFlowWire", "CPlatform"], swiftSettings: lean),
        .target(name: "PFlowEngine", dependencies: ["PFlowCore", "PFlowCapture", "PFlowWire", "PFlowFlows", "CPlatform"], swiftSettings: lean),
        .target(name: "PFlowOutput", dependencies: ["CPlatform", "PFlowCore", "PFlowCapture", "PFlowWire", "PFlowFlows", "PFlowEngine", "PFlowParquet", "PFlowExport"], swiftSettings: lean),
        // libpcap's functions, bound when first called (dlopen): its own
        // dependencies took ~1.7 ms to load on every run, files or not.
        .target(name: "CPcapLoader", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "PFlowLive", dependencies: ["CPcap", "CPcapLoader"], swiftSettings: lean),
        // The writer's buffers are class properties touched per value: dynamic
        // exclusivity checks cost more than the writes (callgrind: 11% of a run).
        .target(name: "PFlowParquet", dependencies: ["CZlib", "CPlatform"],
                swiftSettings: lean + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // Encoders for other tools' formats (Community ID, IPFIX, Zeek conn.log):
        // pure functions of an ExportFlow, no knowledge of the flow table.
        .target(name: "PFlowExport", dependencies: ["PFlowCore", "CPlatform"], swiftSettings: lean),
        .executableTarget(
            name: "pflow",
            dependencies: ["CPlatform", "PFlowCore", "PFlowFlows", "PFlowEngine", "PFlowOutput", "PFlowLive"],
            swiftSettings: lean
        ),
        .testTarget(
            name: "PFlowTests",
            dependencies: ["CPlatform", "PFlowCore", "PFlowCapture", "PFlowWire", "PFlowFlows", "PFlowEngine", "PFlowOutput", "PFlowLive", "PFlowParquet", "PFlowExport"],
            resources: [.copy("Golden")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
