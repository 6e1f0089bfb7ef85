//! Training face embeddings with the triplet loss: a crop cache (detect + align once), P x K
//! batches with augmentation, random / semi-hard / batch-hard mining, the training loop with
//! checkpoints and validation, and training curves.

#![forbid(unsafe_code)]

pub mod augment;
pub mod batches;
pub mod crops;
pub mod curve;
pub mod dataset;
pub mod stored;
pub mod train;
pub mod triplet;
pub mod validate;
