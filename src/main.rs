//! `infini`: a git-like command line over an encrypted, versioned key/value store.

// `print!`/`eprint!` and their `ln` forms panic when stdout or stderr cannot be written (a closed descriptor, a full
// disk): output goes through `cmd::output`, which reports or ignores such failures instead.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cmd;

fn main() -> std::process::ExitCode {
    bound_malloc_retention();
    cmd::main()
}

/// glibc raises its mmap threshold to the size of each large block freed, up to 32 MiB, so after the first 16 MiB
/// pack is freed every later pack buffer comes from the heap, where freed space is kept rather than returned: a put
/// of 300 MB of random data peaked at 120 MiB RSS, of the 1.3 GB benchmark stream at 117 MiB. A fixed 8 MiB
/// threshold keeps each pack buffer in its own mapping, returned when freed, while the smaller chunk buffers are
/// reused from the heap (the stream's put peaks at about 75 MiB; a 1 MiB threshold saved a few MiB more but cost
/// about 0.5 s of system time in page faults).
///
/// Fixing the mmap threshold also fixes the trim threshold at its 128 KiB default, so every free at the top of a
/// thread's heap handed the memory back (`madvise`) and the next chunk buffer faulted it in again: 783 `madvise`
/// calls and about 0.45 s of system time in a put of the stream. An 8 MiB trim threshold keeps that much free
/// memory per heap for reuse (one chunk batch).
///
/// That is per arena, and glibc gives each thread an arena of its own up to eight per core: `put -r` of
/// /usr/share, whose every large file starts worker threads of its own, held 117 MiB of anonymous memory against a
/// heap peak of about 89 MiB, peaking at 119–132 MiB RSS. Two arenas per core (at most eight) took that to
/// 107–110 MiB, at the same speed here (the stream's put too).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn bound_malloc_retention() {
    extern "C" {
        fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
    }
    /// `M_MMAP_THRESHOLD` in glibc's malloc.h.
    const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
    /// `M_TRIM_THRESHOLD` in glibc's malloc.h.
    const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
    /// `M_ARENA_MAX` in glibc's malloc.h.
    const M_ARENA_MAX: std::ffi::c_int = -8;
    let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let arenas = (2 * cores).clamp(2, 8) as std::ffi::c_int;
    // SAFETY: mallopt only changes allocator tunables; it is called before any thread is started.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 8 << 20);
        mallopt(M_TRIM_THRESHOLD, 8 << 20);
        mallopt(M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_retention() {}
