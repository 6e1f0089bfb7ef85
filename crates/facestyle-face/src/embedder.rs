//! The embedding network of the face pipeline: the pretrained SFace, or a model trained with
//! `facestyle face train` (the compact CNN from scratch, or SFace fine-tuned).

use burn::prelude::*;

use crate::compact::CompactNet;
use crate::sface::{SFace, SFacePlan};

#[derive(Module, Debug)]
pub enum Embedder {
    SFace(SFace),
    Compact(CompactNet),
}

impl Embedder {
    /// Embeddings `[N, dim]` (not normalised) of a `[N, 3, 112, 112]` RGB 0-255 batch of
    /// aligned crops.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_planned(x, None)
    }

    /// SFace's inference plan of the current weights (`None` for other networks).
    pub fn plan(&self) -> Option<SFacePlan> {
        self.sface().map(SFace::plan)
    }

    /// [`Embedder::forward`] with `plan` (from [`Embedder::plan`] of these weights).
    pub fn forward_planned(&self, x: Tensor<4>, plan: Option<&SFacePlan>) -> Tensor<2> {
        match self {
            Embedder::SFace(n) => n.forward_planned(x, plan),
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
