//! Training face embeddings with the triplet loss (work in progress for the training issue:
//! the loss and the triplet selection so far).

pub mod triplet;
