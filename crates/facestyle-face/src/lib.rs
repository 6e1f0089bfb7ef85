//! Faces: detect (YuNet) -> align (5 landmarks onto the ArcFace template) -> embed (SFace,
//! 128-d), all as native burn networks loaded from the pretrained ONNX files; then verify
//! (1:1, `d <= tau`), identify (1:K with "unknown"), enroll from one photo into a SQLite
//! gallery, cluster a collection, and evaluate on LFW.

#![forbid(unsafe_code)]

pub mod align;
pub mod cluster;
pub mod compact;
pub mod detect;
pub mod draw;
pub mod embedder;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod gallery;
pub mod head;
pub mod lfw;
pub mod metric;
pub mod model_dir;
pub mod nms;
pub mod onnx_layers;
pub mod pgtest;
pub mod photo;
pub mod plot;
pub mod roc;
pub mod search;
pub mod sface;
pub mod synthetic;
pub mod yunet;

pub use error::{FaceError, Result};
