//! `facestyle face curve HISTORY -o OUT`: a training run's curves drawn again from its
//! `history.json`, as PNG or SVG.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use facestyle_train::train::EpochRecord;
use serde::Serialize;

#[derive(Debug, Args)]
pub struct CurveArgs {
    /// The run's `history.json` (written by `facestyle face train` beside its model).
    pub history: PathBuf,
    /// The picture: `.png` or `.svg`.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Title above the panels.
    #[arg(long, default_value = "training curve")]
    pub title: String,
}

#[derive(Serialize)]
struct Drawn<'a> {
    out: &'a Path,
    epochs: usize,
}

pub fn run(a: CurveArgs, json_out: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.history)
        .with_context(|| format!("{}: cannot read", a.history.display()))?;
    let history: Vec<EpochRecord> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a training history (history.json)", a.history.display()))?;
    facestyle_train::curve::plot(&history, &a.title)
        .save(&a.out)
        .with_context(|| format!("{}: cannot write the curve", a.out.display()))?;
    if json_out {
        println!("{}", serde_json::to_string(&Drawn { out: &a.out, epochs: history.len() })?);
    } else {
        println!("{} epoch(s) -> {}", history.len(), a.out.display());
    }
    Ok(())
}
