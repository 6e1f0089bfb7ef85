//! The embedding network of the face pipeline: the pretrained SFace, or a model trained with
//! `facestyle face train` (the compact CNN from scratch, or SFace fine-tuned).

use burn::prelude::*;

use crate::compact::CompactNet;
use crate::sface::SFace;

#[derive(Module, Debug)]
pub enum Embedder {
    SFace(SFace),
    Compact(CompactNet),
}

impl Embedder {
    /// Embeddings `[N, dim]` (not normalised) of a `[N, 3, 112, 112]` RGB 0-255 batch of
    /// aligned crops.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            Embedder::SFace(n) => n.forward(x),
            Embedder::Compact(n) => n.forward(x),
        }
    }

    /// The SFace network, when this is one (pretrained or fine-tuned).
    pub fn sface(&self) -> Option<&SFace> {
        match self {
            Embedder::SFace(n) => Some(n),
            Embedder::Compact(_) => None,
        }
    }
}
