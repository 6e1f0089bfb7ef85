//! A small team of helper threads that stay awake between the layers of an inference.
//!
//! The inference kernels share each layer out over the threads (one part per thread). With
//! rayon, an idle worker goes to sleep within microseconds and the next layer has to wake it
//! through the kernel (futex, in a VM an inter-processor interrupt): on YuNet (a 250x250
//! image, 2 threads) about 16% of the CPU time went to the scheduler. Here each helper
//! spins for [`SPIN`] after its last part before it sleeps, so consecutive layers hand
//! their parts over through shared memory alone.
//!
//! One inference at a time uses the team: a caller that finds it busy (another thread's
//! inference, or a part that itself shares out work) runs its parts through rayon instead.
//! `FACESTYLE_TEAM=0` turns the team off (no spinning threads; every split through rayon).

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper waits for the next part, spinning, before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// The job of the moment: `run(part)` for parts `1..parts` (part 0 is the caller's).
#[derive(Clone, Copy)]
struct Job {
    run: *const (dyn Fn(usize) + Sync),
    parts: usize,
}

struct Team {
    helpers: usize,
    /// Held by the one caller that uses the team.
    busy: AtomicBool,
    /// Bumped for every job; a helper runs a job once it sees a new value.
    epoch: AtomicUsize,
    job: UnsafeCell<Job>,
    /// Helper parts of the current job not finished yet.
    pending: AtomicUsize,
    /// A helper part panicked.
    panicked: AtomicBool,
    /// Helpers asleep (waiting on `wake`).
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

// Safety: `job` is written only by the caller holding `busy`, before it bumps `epoch`
// (release), and read by helpers after they see that epoch (acquire), until they decrement
// `pending`, which the caller waits for before the job's closure goes out of scope.
unsafe impl Sync for Team {}
unsafe impl Send for Team {}

fn noop(_: usize) {}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let threads =
            std::env::var("RAYON_NUM_THREADS").ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0);
        let threads =
            threads.or_else(|| std::thread::available_parallelism().ok().map(|n| n.get())).unwrap_or(1);
        let off = std::env::var("FACESTYLE_TEAM").is_ok_and(|v| v == "0");
        let helpers = if off { 0 } else { threads - 1 };
        let team: &'static Team = Box::leak(Box::new(Team {
            helpers,
            busy: AtomicBool::new(false),
            epoch: AtomicUsize::new(0),
            job: UnsafeCell::new(Job { run: &noop as &(dyn Fn(usize) + Sync), parts: 0 }),
            pending: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        for id in 1..=helpers {
            std::thread::Builder::new()
                .name(format!("facestyle-team-{id}"))
                .spawn(move || helper(team, id))
                .expect("cannot start an inference helper thread");
        }
        team
    })
}

fn helper(team: &'static Team, id: usize) {
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        let epoch = loop {
            let e = team.epoch.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && start.elapsed() > SPIN {
                let guard = team.lock.lock().unwrap_or_else(|e| e.into_inner());
                team.sleeping.fetch_add(1, Ordering::SeqCst);
                let mut guard = guard;
                while team.epoch.load(Ordering::SeqCst) == seen {
                    guard = team.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                team.sleeping.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            std::hint::spin_loop();
        };
        seen = epoch;
        // Safety: see `unsafe impl Sync for Team`.
        let job = unsafe { *team.job.get() };
        if id < job.parts {
            // Safety: the closure lives until `pending` reaches zero.
            let run = unsafe { &*job.run };
            if catch_unwind(AssertUnwindSafe(|| run(id))).is_err() {
                team.panicked.store(true, Ordering::Relaxed);
            }
            team.pending.fetch_sub(1, Ordering::Release);
        }
    }
}

/// `f(part)` for every part in `0..parts`, results in order: on the team (the caller runs
/// part 0, helper `i` part `i`) when it is free and `parts` is its size (the rayon
/// thread count: `RAYON_NUM_THREADS` or the CPUs), else through rayon.
pub(crate) fn run<T: Send>(parts: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let team = team();
    if parts != team.helpers + 1 || parts == 1 || team.busy.swap(true, Ordering::Acquire) {
        use rayon::prelude::*;
        return (0..parts).into_par_iter().map(&f).collect();
    }
    let slots: Vec<Slot<T>> = (0..parts).map(|_| Slot(UnsafeCell::new(None))).collect();
    let body = |part: usize| {
        let v = f(part);
        // Safety: each part writes its own slot once.
        unsafe { *slots[part].0.get() = Some(v) };
    };
    let body_ref: &(dyn Fn(usize) + Sync) = &body;
    // Safety: the lifetime is erased only for as long as the helpers run it: this function
    // waits for `pending` to reach zero before `body` is dropped.
    let erased: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(body_ref) };
    team.pending.store(parts - 1, Ordering::Relaxed);
    unsafe { *team.job.get() = Job { run: erased, parts } };
    team.epoch.fetch_add(1, Ordering::SeqCst);
    if team.sleeping.load(Ordering::SeqCst) > 0 {
        let _guard = team.lock.lock().unwrap_or_else(|e| e.into_inner());
        team.wake.notify_all();
    }
    let mine = catch_unwind(AssertUnwindSafe(|| body(0)));
    while team.pending.load(Ordering::Acquire) != 0 {
        std::hint::spin_loop();
    }
    let helper_panicked = team.panicked.swap(false, Ordering::Relaxed);
    team.busy.store(false, Ordering::Release);
    if let Err(e) = mine {
        resume_unwind(e);
    }
    assert!(!helper_panicked, "an inference helper thread panicked");
    slots.into_iter().map(|s| s.0.into_inner().expect("every part ran")).collect()
}

struct Slot<T>(UnsafeCell<Option<T>>);
// Safety: each slot is written by one part and read after all parts finished.
unsafe impl<T: Send> Sync for Slot<T> {}

#[cfg(test)]
mod tests {
    use super::run;

    #[test]
    fn runs_every_part_once_in_order() {
        for parts in [1, 2, 3, 8] {
            let out = run(parts, |p| p * 10);
            assert_eq!(out, (0..parts).map(|p| p * 10).collect::<Vec<_>>());
        }
        // Nested use (a part sharing out work) and concurrent callers fall back to rayon.
        let nested = run(2, |p| run(2, move |q| p * 2 + q));
        assert_eq!(nested, vec![vec![0, 1], vec![2, 3]]);
        let handles: Vec<_> = (0..4)
            .map(|i| {
                std::thread::spawn(move || {
                    (0..200).map(|_| run(2, |p| p + i).iter().sum::<usize>()).sum::<usize>()
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), 200 * (1 + 2 * i));
        }
    }

    #[test]
    fn a_panicking_part_panics_the_caller_and_the_team_still_works() {
        let r = std::panic::catch_unwind(|| run(2, |p| if p == 1 { panic!("part 1") } else { p }));
        assert!(r.is_err());
        assert_eq!(run(2, |p| p), vec![0, 1]);
    }
}
