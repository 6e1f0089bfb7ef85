//! Which instruction-set path facestyle's kernels take, decided in one place.
//!
//! The crate is compiled for baseline x86-64 (SSE2) so that one binary runs anywhere; each hot
//! loop also has versions compiled for wider vector units, and this module picks one path for
//! the whole process: the best this CPU supports, detected once, or the one named by
//! `FACESTYLE_ISA=scalar|avx2` (a path the CPU lacks is refused with a message, and
//! the detected one is used). Tests switch paths with [`set`] to run every kernel on every
//! path the CPU supports.
//!
//! Paths, the second a superset of the first:
//! - `scalar`: plain Rust, baseline x86-64 (and every other architecture);
//! - `avx2`: AVX2 + FMA kernels (Intel Haswell and AMD Zen on).
//!
//! The matrix products come from the `gemm` crate, which detects the CPU by itself (AVX-512
//! where present: it is built with its `x86-v4` feature) and offers no switch:
//! `FACESTYLE_ISA` steers facestyle's own kernels only.

use std::sync::atomic::{AtomicU8, Ordering};

/// One instruction-set path of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    Scalar,
    Avx2,
}

impl Isa {
    /// Every path, narrowest first.
    pub const ALL: [Isa; 2] = [Isa::Scalar, Isa::Avx2];

    /// The name `FACESTYLE_ISA` takes.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
        }
    }

    /// The path named `name` (as [`Isa::name`] writes it, any case).
    pub fn parse(name: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|isa| isa.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Whether this CPU runs the path.
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest path this CPU supports.
    pub fn detected() -> Isa {
        Isa::ALL.into_iter().rev().find(|isa| isa.supported()).unwrap_or(Isa::Scalar)
    }

    /// The paths this CPU supports, narrowest first.
    pub fn supported_paths() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.supported()).collect()
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The path in use (`Isa as u8`), or `UNSET` before the first question.
static ACTIVE: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;

/// The path `FACESTYLE_ISA` asks for, checked against the CPU: `Ok(None)` when unset.
pub fn from_env() -> Result<Option<Isa>, String> {
    let Ok(value) = std::env::var("FACESTYLE_ISA") else { return Ok(None) };
    if value.trim().is_empty() {
        return Ok(None);
    }
    let names = Isa::ALL.map(Isa::name).join(", ");
    let isa = Isa::parse(&value)
        .ok_or_else(|| format!("FACESTYLE_ISA={value}: not a path; the paths are {names}"))?;
    if !isa.supported() {
        let here = Isa::supported_paths().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ");
        return Err(format!("FACESTYLE_ISA={value}: this CPU cannot run it (it runs {here})"));
    }
    Ok(Some(isa))
}

/// The path the kernels take: set by [`set`], else `FACESTYLE_ISA`, else [`Isa::detected`].
#[inline]
pub fn active() -> Isa {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => Isa::Scalar,
        1 => Isa::Avx2,
        _ => {
            let isa = from_env().unwrap_or_else(|e| {
                eprintln!("warning: {e}; using {}", Isa::detected());
                None
            });
            let isa = isa.unwrap_or_else(Isa::detected);
            // Two first callers agree on the value; whichever store lands is the same path.
            ACTIVE.store(isa as u8, Ordering::Relaxed);
            isa
        }
    }
}

/// Makes the kernels take `isa` from now on; refused when the CPU lacks it. A call in flight
/// may finish partly on the other path (some kernels ask per row or per channel); both paths
/// compute the same values to rounding. Tests that switch paths take turns through
/// `for_each_path`.
pub fn set(isa: Isa) -> Result<(), String> {
    if !isa.supported() {
        return Err(format!("this CPU cannot run the {isa} path"));
    }
    ACTIVE.store(isa as u8, Ordering::Relaxed);
    Ok(())
}

/// Whether the active path includes the AVX2 + FMA kernels.
#[inline(always)]
pub fn avx2() -> bool {
    active() >= Isa::Avx2
}

/// Runs `f` with its code compiled for AVX2 where the active path includes it (plain loops
/// that LLVM vectorises, or whose floors and roundings become single instructions), else as
/// built for baseline x86-64. `f` should be an `#[inline(always)]` closure calling
/// `#[inline(always)]` functions, so that its body is compiled inside the AVX2 function. No
/// FMA: the results are the same on both paths.
#[inline(always)]
pub fn autovectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        #[target_feature(enable = "avx2")]
        fn compiled_for_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the active path includes AVX2, and `set` and `active` only choose paths the
        // CPU supports.
        return unsafe { compiled_for_avx2(f) };
    }
    f()
}

/// The CPU's model name and the vector extensions facestyle can use that it lists, for
/// benchmark output: `"AMD EPYC (avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16)"`.
pub fn cpu_description() -> String {
    let model = cpuinfo_field("model name").unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model} ({})", cpu_flags())
}

/// The vector extensions of interest to facestyle that `/proc/cpuinfo` lists, space-separated.
pub fn cpu_flags() -> String {
    const WANTED: [&str; 13] = [
        "sse4_2",
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_bf16",
        "amx_int8",
        "avx_vnni",
    ];
    let flags = cpuinfo_field("flags").unwrap_or_default();
    let listed: Vec<&str> =
        WANTED.into_iter().filter(|w| flags.split_whitespace().any(|f| f == *w)).collect();
    listed.join(" ")
}

/// The first value of `key` in `/proc/cpuinfo` (`"model name"`, `"cpu family"`, `"model"`).
pub fn cpuinfo_field(key: &str) -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    cpuinfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// Runs `f` once on every path this CPU supports, with that path active, then restores the
/// path that was active; calls from several test threads take turns.
#[cfg(test)]
pub(crate) fn for_each_path(mut f: impl FnMut(Isa)) {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let before = active();
    for isa in Isa::supported_paths() {
        set(isa).unwrap();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(isa)));
        if let Err(e) = run {
            set(before).unwrap();
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("on the {isa} path: {}", why.unwrap_or_default());
        }
    }
    set(before).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
            assert_eq!(Isa::parse(&isa.name().to_uppercase()), Some(isa));
        }
        assert_eq!(Isa::parse("avx3"), None);
        assert!(Isa::Scalar.supported());
        assert!(Isa::detected().supported());
        // Each path includes the narrower ones.
        let paths = Isa::supported_paths();
        assert_eq!(paths, Isa::ALL[..paths.len()].to_vec());
    }

    #[test]
    fn set_refuses_what_the_cpu_lacks_and_for_each_path_restores() {
        let mut seen = Vec::new();
        for_each_path(|isa| {
            assert_eq!(active(), isa);
            seen.push(isa);
            for other in Isa::ALL {
                assert_eq!(set(other).is_ok(), other.supported(), "{other}");
            }
            set(isa).unwrap();
        });
        assert_eq!(seen, Isa::supported_paths());
        assert!(cpu_description().contains('('));
    }
}
