//! Links the binary with packed relative relocations (`DT_RELR`): a static
//! PIE applies its relocations itself at start-up, and SQLite's function
//! tables made them 5,000; packed, applying them costs 22 k fewer
//! instructions of a small sweep's 450 k (bench/README.md). Here rather than
//! in RUSTFLAGS, which the static builds set (and which would replace it).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
