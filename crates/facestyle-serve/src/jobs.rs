//! Style-transfer jobs: a bounded queue (full -> 429), one worker thread (a transfer already
//! uses every core), progress per step, results kept in memory for the latest jobs, and
//! cancellation at shutdown between steps.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use serde::Serialize;

/// Finished jobs kept (oldest dropped first).
const KEEP_FINISHED: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub id: String,
    pub state: JobState,
    pub step: usize,
    pub iterations: usize,
    pub loss: Option<f32>,
    pub error: Option<String>,
    #[serde(skip)]
    pub result_png: Option<Arc<Vec<u8>>>,
}

pub struct StyleRequest {
    pub id: String,
    pub content: RgbImage,
    pub style: RgbImage,
    pub size: u32,
    pub iterations: usize,
}

pub struct Jobs {
    sender: SyncSender<StyleRequest>,
    receiver: Mutex<Option<Receiver<StyleRequest>>>,
    pub statuses: Mutex<BTreeMap<u64, JobStatus>>,
    finished: Mutex<VecDeque<u64>>,
    next: AtomicU64,
    pub cancel: AtomicBool,
}

pub fn id_number(id: &str) -> Option<u64> {
    id.strip_prefix("job-").and_then(|n| n.parse().ok())
}

impl Jobs {
    pub fn new(capacity: usize) -> Self {
        let (sender, receiver) = sync_channel(capacity);
        Jobs {
            sender,
            receiver: Mutex::new(Some(receiver)),
            statuses: Mutex::new(BTreeMap::new()),
            finished: Mutex::new(VecDeque::new()),
            next: AtomicU64::new(1),
            cancel: AtomicBool::new(false),
        }
    }

    /// Queues a job; `None` when the queue is full or the server is shutting down.
    pub fn submit(&self, content: RgbImage, style: RgbImage, size: u32, iterations: usize) -> Option<String> {
        if self.cancel.load(Ordering::SeqCst) {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("job-{n}");
        let status = JobStatus {
            id: id.clone(),
            state: JobState::Queued,
            step: 0,
            iterations,
            loss: None,
            error: None,
            result_png: None,
        };
        self.statuses.lock().expect("jobs lock").insert(n, status);
        match self.sender.try_send(StyleRequest { id: id.clone(), content, style, size, iterations }) {
            Ok(()) => Some(id),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.statuses.lock().expect("jobs lock").remove(&n);
                None
            }
        }
    }

    pub fn status(&self, id: &str) -> Option<JobStatus> {
        self.statuses.lock().expect("jobs lock").get(&id_number(id)?).cloned()
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobStatus)) {
        let Some(n) = id_number(id) else { return };
        let mut map = self.statuses.lock().expect("jobs lock");
        if let Some(s) = map.get_mut(&n) {
            f(s);
            if matches!(s.state, JobState::Done | JobState::Failed | JobState::Cancelled) {
                let mut fin = self.finished.lock().expect("jobs lock");
                fin.push_back(n);
                while fin.len() > KEEP_FINISHED {
                    if let Some(old) = fin.pop_front() {
                        map.remove(&old);
                    }
                }
            }
        }
    }

    /// Jobs waiting and running (for metrics).
    pub fn counts(&self) -> (usize, usize) {
        let map = self.statuses.lock().expect("jobs lock");
        let q = map.values().filter(|s| s.state == JobState::Queued).count();
        let r = map.values().filter(|s| s.state == JobState::Running).count();
        (q, r)
    }

    /// The receiving end, taken once by the worker.
    pub fn take_receiver(&self) -> Option<Receiver<StyleRequest>> {
        self.receiver.lock().expect("jobs lock").take()
    }

    /// Stops taking jobs, cancels the queued ones; the running one stops at its next step.
    pub fn shutdown(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        let mut map = self.statuses.lock().expect("jobs lock");
        for s in map.values_mut() {
            if s.state == JobState::Queued {
                s.state = JobState::Cancelled;
                s.error = Some("the server shut down".into());
            }
        }
    }
}
