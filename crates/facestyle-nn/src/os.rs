//! The operating-system calls facestyle makes outside the standard library, as safe
//! functions (they are `unsafe` in `libc`; the crate's other unsafe code is its kernels).

/// Restores SIGPIPE's default action, so that a command-line tool stops quietly when its
/// reader goes away (`facestyle ... | head`); Rust starts programs with SIGPIPE ignored.
/// Call it at start-up, before other threads exist.
pub fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: `signal` with a valid signal number and the default disposition changes no
    // memory of this program; called before other threads exist (the documented contract).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Ignores SIGPIPE, so that a server does not die when a client goes away mid-answer (writes
/// then fail with an error instead). Call it before the server's threads start.
pub fn ignore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: as in `restore_default_sigpipe`, with the "ignore" disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Peak resident memory of this process in MiB (Linux: `ru_maxrss` in KiB), if known.
pub fn peak_rss_mib() -> Option<f64> {
    #[cfg(unix)]
    {
        // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `getrusage` writes one `rusage` into the valid, exclusively borrowed `r`.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) } == 0 {
            return Some(r.ru_maxrss as f64 / 1024.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_memory_is_known_and_grows_with_an_allocation() {
        let before = super::peak_rss_mib().unwrap();
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = super::peak_rss_mib().unwrap();
        assert!(after >= before && after >= 64.0, "{before} -> {after} MiB");
    }
}
