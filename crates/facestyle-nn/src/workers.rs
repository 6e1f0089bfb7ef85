//! Running a whole inference on a rayon worker thread.
//!
//! The CPU kernels (`fused_conv`, `gemm_conv`, `linear_op`, `pool_op`) share each layer out
//! over the rayon threads. Called from a thread outside the pool, every layer is a cold
//! injection: the caller blocks on a lock while the workers wake up, then is woken itself,
//! about two context switches a layer. Called from a worker, a layer is split by work
//! stealing: the calling worker runs its part at once and takes the other parts back itself
//! when the other workers are slow to wake. Measured on SFace (one 112x112 crop, 2 threads,
//! 300 runs): context switches 94 -> 27 per embedding, median 15.3-17.4 ms -> 11.3-14.8 ms.

/// Runs `f` on a rayon worker thread: here when this thread is one, else on the global
/// pool, this thread waiting for it once.
pub fn on_workers<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() { f() } else { rayon::scope(|_| f()) }
}

#[cfg(test)]
mod tests {
    use super::on_workers;

    #[test]
    fn runs_on_a_worker_from_outside_and_inside_the_pool() {
        assert_eq!(rayon::current_thread_index(), None);
        assert!(on_workers(rayon::current_thread_index).is_some());
        let nested = on_workers(|| (rayon::current_thread_index(), on_workers(rayon::current_thread_index)));
        assert_eq!(nested.0, nested.1, "a worker runs f itself");
    }
}
