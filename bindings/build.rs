//! Links the shared library with 16 KB pages on ELF targets (Android, Linux).
//!
//! Android 15 devices may run with 16 KB memory pages, and Google Play requires every native
//! library of an app that targets Android 15+ to load there: each LOAD segment aligned to at
//! least 16 KB. The linkers' default on x86_64 and arm64 is 4 KB, so the library says so
//! itself, for its own link only (dependencies and other crates are untouched).
//! `scripts/check-elf-alignment.sh` checks the result in CI.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(os.as_str(), "android" | "linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,max-page-size=16384");
    }
}
