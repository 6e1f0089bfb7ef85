//! Style-transfer jobs: a bounded queue (full -> 429), one worker thread (a transfer already
//! uses every core), progress per step, results kept in memory for the latest jobs, and
//! cancellation at shutdown between steps. Job ids are 128 random bits, so one caller cannot
//! guess another's job.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::lock;

/// Finished jobs kept (oldest dropped first).
const KEEP_FINISHED: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

/// A style job's progress: the answer of `GET /v1/jobs/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobStatus {
    pub id: String,
    pub state: JobState,
    pub step: usize,
    pub iterations: usize,
    pub loss: Option<f32>,
    /// Structure kept: SSIM of luminance between the result and the content (when done).
    pub ssim: Option<f64>,
    /// Style carried: style loss of the result / style loss of the content (when done).
    pub style_ratio: Option<f64>,
    /// Evaluations of J and its gradient so far, counted at the output size.
    pub evaluations: f64,
    /// Steps the job runs in all (the coarse levels' and `iterations` at full size).
    pub steps: usize,
    /// The step of the picture at `/v1/jobs/{id}/preview.png`, when there is one.
    pub preview_step: Option<usize>,
    pub error: Option<String>,
    #[serde(skip)]
    pub result_png: Option<Arc<Vec<u8>>>,
    /// The latest intermediate picture (PNG), while the job runs.
    #[serde(skip)]
    pub preview_png: Option<Arc<Vec<u8>>>,
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
    statuses: Mutex<HashMap<String, JobStatus>>,
    finished: Mutex<VecDeque<String>>,
    pub cancel: AtomicBool,
}

/// A new job id: `job-` and 32 hex digits from the thread's CSPRNG.
pub fn new_id() -> String {
    format!("job-{:032x}", rand::random::<u128>())
}

impl Jobs {
    pub fn new(capacity: usize) -> Self {
        let (sender, receiver) = sync_channel(capacity);
        Jobs {
            sender,
            receiver: Mutex::new(Some(receiver)),
            statuses: Mutex::new(HashMap::new()),
            finished: Mutex::new(VecDeque::new()),
            cancel: AtomicBool::new(false),
        }
    }

    /// Queues a job; `None` when the queue is full or the server is shutting down.
    pub fn submit(&self, content: RgbImage, style: RgbImage, size: u32, iterations: usize) -> Option<String> {
        if self.cancel.load(Ordering::SeqCst) {
            return None;
        }
        let id = new_id();
        let status = JobStatus {
            id: id.clone(),
            state: JobState::Queued,
            step: 0,
            iterations,
            loss: None,
            ssim: None,
            style_ratio: None,
            evaluations: 0.0,
            steps: iterations,
            preview_step: None,
            error: None,
            result_png: None,
            preview_png: None,
        };
        lock(&self.statuses).insert(id.clone(), status);
        match self.sender.try_send(StyleRequest { id: id.clone(), content, style, size, iterations }) {
            Ok(()) => Some(id),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                lock(&self.statuses).remove(&id);
                None
            }
        }
    }

    pub fn status(&self, id: &str) -> Option<JobStatus> {
        lock(&self.statuses).get(id).cloned()
    }

    pub fn update(&self, id: &str, f: impl FnOnce(&mut JobStatus)) {
        let mut map = lock(&self.statuses);
        if let Some(s) = map.get_mut(id) {
            f(s);
            if matches!(s.state, JobState::Done | JobState::Failed | JobState::Cancelled) {
                let mut fin = lock(&self.finished);
                fin.push_back(id.to_string());
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
        let map = lock(&self.statuses);
        let q = map.values().filter(|s| s.state == JobState::Queued).count();
        let r = map.values().filter(|s| s.state == JobState::Running).count();
        (q, r)
    }

    /// The receiving end, taken once by the worker.
    pub fn take_receiver(&self) -> Option<Receiver<StyleRequest>> {
        lock(&self.receiver).take()
    }

    /// Stops taking jobs, cancels the queued ones; the running one stops at its next step.
    pub fn shutdown(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        let mut map = lock(&self.statuses);
        for s in map.values_mut() {
            if s.state == JobState::Queued {
                s.state = JobState::Cancelled;
                s.error = Some("the server shut down".into());
            }
        }
    }
}
