// swift-tools-version:5.9
// The iOS sample's model layer as a Swift package: TicketsModel (an @Observable model over
// FieldsyncKit for the SwiftUI views) and SampleCheck (runs it against a server). FieldsyncKit
// is the package bindings/scripts/ios-xcframework.sh writes on a Mac (default path below).
// On Linux, scripts/test-bindings.sh compiles the same two targets with swiftc instead.
import PackageDescription

let package = Package(
    name: "FieldsyncSample",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [.library(name: "TicketsModel", targets: ["TicketsModel"])],
    dependencies: [.package(path: "../target/ios/FieldsyncKit")],
    targets: [
        .target(name: "TicketsModel", dependencies: ["FieldsyncKit"]),
        .executableTarget(name: "SampleCheck", dependencies: ["TicketsModel"]),
    ]
)
