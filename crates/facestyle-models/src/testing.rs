//! Helpers for tests: the real model files, and byte mutations for the fuzz tests.

use std::path::PathBuf;

use crate::cache::models_dir;

/// The cached model file `file_name`, or `None` (with a notice) when it is not there.
///
/// With `FACESTYLE_REQUIRE_MODELS=1` (as CI sets it) a missing file panics instead: tests that
/// need models must fail, not skip, where the models are supposed to be present.
pub fn cached_model(file_name: &str) -> Option<PathBuf> {
    let path = models_dir().join(file_name);
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("FACESTYLE_REQUIRE_MODELS").as_deref() == Ok("1") {
        panic!(
            "{} not found and FACESTYLE_REQUIRE_MODELS=1: run `facestyle models fetch --all` first",
            path.display()
        );
    }
    eprintln!("skipping: {} not in the model cache (run `facestyle models fetch --all`)", path.display());
    None
}

/// Applies mutations to a copy of `seed`, each `(kind, a, b)` read as one edit (any values
/// are valid, so a property-testing library can generate and shrink them freely): flip bit
/// `b % 8` of byte `a`, set byte `a` to `b`, truncate to `a` bytes, write an interesting
/// 32-bit value (0, 1, 0x7f, 0x80, 0xff, 0xffff, i32::MAX, u32::MAX, 0x8000_0000 or `b`)
/// little- or big-endian at byte `a`, set a byte of the first 64 (headers), delete a range,
/// or duplicate a range in place. Positions wrap around the current length.
pub fn mutate(seed: &[u8], edits: &[(u8, u32, u32)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(kind, a, b) in edits {
        let len = v.len();
        let (a, b) = (a as usize, b as usize);
        match kind % 8 {
            0 if len > 0 => v[a % len] ^= 1 << (b % 8),
            1 if len > 0 => v[a % len] = b as u8,
            2 => v.truncate(a % (len + 1)),
            3 | 4 if len >= 4 => {
                const VALUES: [u32; 9] =
                    [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000];
                let value = VALUES.get(b % 10).copied().unwrap_or(b as u32);
                let bytes = if kind % 8 == 3 { value.to_le_bytes() } else { value.to_be_bytes() };
                let at = a % (len - 3);
                v[at..at + 4].copy_from_slice(&bytes);
            }
            5 if len > 0 => v[a % len.min(64)] = b as u8,
            6 if len > 0 => {
                let at = a % len;
                let end = (at + 1 + b % 64).min(len);
                v.drain(at..end);
            }
            7 if len > 0 => {
                let at = a % len;
                let end = (at + 1 + b % 256).min(len);
                let copy = v[at..end].to_vec();
                v.splice(at..at, copy);
            }
            _ => {}
        }
    }
    v
}

/// Peak resident memory of this process so far (`VmHWM`), in bytes; `None` off Linux.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// The number of fuzz cases to run: `FACESTYLE_FUZZ_CASES` when set (the long runs), else
/// `default` (the short run of every `cargo test`).
pub fn fuzz_cases(default: u32) -> u32 {
    std::env::var("FACESTYLE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_stay_in_bounds() {
        let seed: Vec<u8> = (0..100).collect();
        assert_eq!(mutate(&seed, &[]), seed);
        assert_eq!(mutate(&seed, &[(0, 3, 0)])[3], 2);
        assert_eq!(mutate(&seed, &[(2, 10, 0)]).len(), 10);
        assert_eq!(&mutate(&seed, &[(3, 0, 7)])[..4], &[0xff; 4]);
        assert_eq!(&mutate(&seed, &[(4, 0, 9)])[..4], &[0, 0, 0, 9]);
        assert_eq!(mutate(&seed, &[(6, 0, 9)]).len(), 90);
        assert_eq!(mutate(&seed, &[(7, 0, 9)]).len(), 110);
        for kind in 0..8 {
            for n in [0usize, 1, 3, 4] {
                mutate(&seed[..n], &[(kind, u32::MAX, u32::MAX), (kind, 0, 0)]);
            }
        }
    }
}
