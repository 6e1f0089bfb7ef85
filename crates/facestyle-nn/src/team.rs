//! A small team of helper threads that stay awake between the layers of an inference.
//!
//! The inference kernels share each layer out over the threads (one part per thread). With
//! rayon, an idle worker goes to sleep within microseconds and the next layer has to wake it
//! through the kernel (futex, in a VM an inter-processor interrupt): on YuNet (a 250x250
//! image, 2 threads) about 16% of the CPU time went to the scheduler. Here each helper
//! spins (yielding now and then) for [`SPIN`] after its last part before it sleeps, so
//! consecutive layers hand their parts over through shared memory alone.
//!
//! Parts are claimed, not assigned: the caller runs parts too, and takes any part no helper
//! has started yet, so a helper that the machine does not schedule (other programs on the
//! cores) costs time only for a part it already started. (With assigned parts, YuNet took
//! 56-80 ms instead of 5-10 ms beside two busy processes on two cores.)
//!
//! One inference at a time uses the team: a caller that finds it busy (another thread's
//! inference, or a part that itself shares out work) runs its parts through rayon instead.
//! `FACESTYLE_TEAM=0` turns the team off (no spinning threads; every split through rayon).

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a helper waits for the next job, spinning, before it sleeps.
const SPIN: Duration = Duration::from_millis(2);

/// One split: `run(part)` for every part in `0..parts`, each claimed once through `next`.
struct Job {
    /// Valid while some part is unclaimed or running: the caller returns only after `done`
    /// reaches `parts`, and a part is only run after it was claimed below `parts`.
    run: *const (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
}

// SAFETY: `run` points to a `Sync` closure; see its field comment for its lifetime.
unsafe impl Send for Job {}
// SAFETY: as for `Send`; the other fields are atomics.
unsafe impl Sync for Job {}

impl Job {
    /// Claims and runs parts until none is left.
    fn work(&self) {
        loop {
            let part = self.next.fetch_add(1, Ordering::AcqRel);
            if part >= self.parts {
                return;
            }
            // Safety: part < parts was claimed, so the closure is alive (see `run`).
            let run = unsafe { &*self.run };
            if catch_unwind(AssertUnwindSafe(|| run(part))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

struct Team {
    helpers: usize,
    /// Held by the one caller that uses the team.
    busy: AtomicBool,
    /// Bumped for every job; a helper looks at `job` once it sees a new value.
    epoch: AtomicUsize,
    job: Mutex<Option<Arc<Job>>>,
    /// Helpers asleep (waiting on `wake`).
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

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
            job: Mutex::new(None),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }));
        for id in 1..=helpers {
            std::thread::Builder::new()
                .name(format!("facestyle-team-{id}"))
                .spawn(move || helper(team))
                .expect("cannot start an inference helper thread");
        }
        team
    })
}

fn helper(team: &'static Team) {
    let mut seen = 0;
    loop {
        let start = Instant::now();
        let mut spins = 0u32;
        seen = loop {
            let e = team.epoch.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(256) {
                std::hint::spin_loop();
                continue;
            }
            if start.elapsed() > SPIN {
                let mut guard = team.lock.lock().unwrap_or_else(|e| e.into_inner());
                team.sleeping.fetch_add(1, Ordering::SeqCst);
                while team.epoch.load(Ordering::SeqCst) == seen {
                    guard = team.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
                }
                team.sleeping.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            // Lets another thread that waits for this core run (a microsecond when none does).
            std::thread::yield_now();
        };
        let job = team.job.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(job) = job {
            job.work();
        }
    }
}

/// `f(part)` for every part in `0..parts`, results in order: on the team (the caller and
/// the helpers claim parts; one helper a thread beyond the caller's, by `RAYON_NUM_THREADS`
/// or the CPU count) when it is free, else through rayon.
pub(crate) fn run<T: Send>(parts: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let team = team();
    if parts < 2 || team.helpers == 0 || team.busy.swap(true, Ordering::Acquire) {
        use rayon::prelude::*;
        return (0..parts).into_par_iter().map(&f).collect();
    }
    let slots: Vec<Slot<T>> = (0..parts).map(|_| Slot(UnsafeCell::new(None))).collect();
    let body = |part: usize| {
        let v = f(part);
        // Safety: each part is claimed, so run and its slot written, once.
        unsafe { *slots[part].0.get() = Some(v) };
    };
    let body_ref: &(dyn Fn(usize) + Sync) = &body;
    // Safety: the lifetime is erased only while parts can still run: this function waits
    // for every part to finish before `body` is dropped (see `Job::run`).
    let erased: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(body_ref) };
    let job = Arc::new(Job {
        run: erased,
        parts,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    });
    *team.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.clone());
    team.epoch.fetch_add(1, Ordering::SeqCst);
    if team.sleeping.load(Ordering::SeqCst) > 0 {
        let _guard = team.lock.lock().unwrap_or_else(|e| e.into_inner());
        team.wake.notify_all();
    }
    job.work();
    let mut spins = 0u32;
    while job.done.load(Ordering::Acquire) != parts {
        // A helper is finishing a part it claimed: spin, then yield (on a busy machine it
        // may be waiting for this very core).
        spins = spins.saturating_add(1);
        if spins < 1024 { std::hint::spin_loop() } else { std::thread::yield_now() }
    }
    team.busy.store(false, Ordering::Release);
    assert!(!job.panicked.load(Ordering::Relaxed), "a part of a shared-out inference kernel panicked");
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
        // More parts than threads are claimed in turn. Nested use (a part sharing out work)
        // and concurrent callers fall back to rayon.
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
    fn one_thread_claims_every_part_when_no_helper_comes() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let ran: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        let body = |p: usize| {
            ran[p].fetch_add(1, Ordering::Relaxed);
        };
        let run: &(dyn Fn(usize) + Sync) = &body;
        // SAFETY: lifetime erasure only; `job` is dropped before `body`.
        let run: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(run) };
        let job = super::Job {
            run,
            parts: 3,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        };
        job.work();
        job.work(); // a late helper finds nothing left
        assert_eq!(job.done.load(Ordering::Relaxed), 3);
        assert!(ran.iter().all(|r| r.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_panicking_part_panics_the_caller_and_the_team_still_works() {
        let r = std::panic::catch_unwind(|| run(2, |p| if p == 1 { panic!("part 1") } else { p }));
        assert!(r.is_err());
        assert_eq!(run(2, |p| p), vec![0, 1]);
    }
}
