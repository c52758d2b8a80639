//! `infini`: a git-like command line over an encrypted, versioned key/value store.

mod cmd;

fn main() -> std::process::ExitCode {
    bound_malloc_retention();
    cmd::main()
}

/// glibc raises its mmap threshold to the size of each large block freed, up to 32 MiB, so after the first 16 MiB
/// pack is freed every later pack buffer, chunk batch and sealed chunk comes from the heap, where freed space is
/// kept rather than returned: a put of random data peaked at 120 MiB RSS. A fixed 1 MiB threshold keeps every
/// large buffer in its own mapping, returned when freed (the same put peaks at about 55 MiB, no slower).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn bound_malloc_retention() {
    extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    /// `M_MMAP_THRESHOLD` in glibc's malloc.h.
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    // SAFETY: mallopt only changes allocator tunables; it is called before any thread is started.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_retention() {}
