//! The strong `ETag` a file is served with: a 64-bit FNV-1a hash of its bytes. It names a
//! version, it does not protect one. Shared with `build.rs`, which tags the compiled-in files.

/// `"0123456789abcdef"`, quotes included.
pub fn etag(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}
