//! `facestyle conv ...`

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use facestyle_nn::conv_shape::{ChannelsLast, ConvSpec, conv_output_shape, conv_param_count, same_padding};
use facestyle_nn::demo::DemoReport;
use serde::Serialize;

/// The example networks of `conv demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoDim {
    /// R peaks in synthetic ECG traces (Conv1d).
    #[value(name = "1d")]
    OneD,
    /// A blob in noisy 14x14x14 volumes (Conv3d).
    #[value(name = "3d")]
    ThreeD,
}

/// `--json` of `conv shape`.
#[derive(Serialize)]
struct Shape {
    input: String,
    output: String,
    output_dims: Vec<usize>,
    filters: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    filter_shape: String,
    parameters: usize,
}

/// `--json` of `conv demo`.
#[derive(Serialize)]
struct Trained<'a> {
    #[serde(flatten)]
    report: &'a DemoReport,
    seconds: f64,
}

#[derive(Debug, Subcommand)]
pub enum ConvCommand {
    /// Output shape of a convolution: floor((n + 2p - f) / s) + 1 on each spatial axis.
    Shape {
        /// Input, channels-last: 14x1 (signal), 14x14x3 (image), 14x14x14x1 (volume).
        #[arg(long)]
        input: String,
        /// Number of filters (output channels).
        #[arg(long)]
        filters: usize,
        /// Kernel size f on every spatial axis.
        #[arg(long)]
        kernel: usize,
        /// Stride s.
        #[arg(long, default_value_t = 1)]
        stride: usize,
        /// Padding p: a number, `valid` (0) or `same` ((f-1)/2).
        #[arg(long, default_value = "0")]
        padding: String,
    },
    /// Train a small example network: `1d` finds R peaks in synthetic ECG traces (Conv1d),
    /// `3d` locates a blob in noisy 14x14x14 volumes (Conv3d).
    Demo {
        #[arg(value_enum)]
        dim: DemoDim,
        /// Training steps (default 300 for 1d, 200 for 3d).
        #[arg(long)]
        steps: Option<usize>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

pub fn run(command: ConvCommand, json_out: bool) -> anyhow::Result<()> {
    match command {
        ConvCommand::Demo { dim, steps, seed } => demo(dim, steps, seed, json_out),
        ConvCommand::Shape { input, filters, kernel, stride, padding } => {
            let input: ChannelsLast = input.parse().map_err(anyhow::Error::msg)?;
            let padding = match padding.as_str() {
                "valid" => 0,
                "same" => {
                    if stride != 1 || kernel % 2 == 0 {
                        bail!("--padding same needs stride 1 and an odd kernel");
                    }
                    same_padding(kernel)
                }
                n => {
                    n.parse().with_context(|| format!("--padding {n:?}: expected a number, valid or same"))?
                }
            };
            let spec = ConvSpec { filters, kernel, stride, padding };
            let out = conv_output_shape(&input, &spec).with_context(|| format!("input {input}"))?;
            let params = conv_param_count(&input, &spec);
            let kernel_shape: Vec<String> = std::iter::repeat_n(kernel.to_string(), input.rank())
                .chain([input.channels.to_string()])
                .collect();
            if json_out {
                let v = Shape {
                    input: input.to_string(),
                    output: out.to_string(),
                    output_dims: out.spatial.iter().chain([&out.channels]).copied().collect(),
                    filters,
                    kernel,
                    stride,
                    padding,
                    filter_shape: kernel_shape.join("x"),
                    parameters: params,
                };
                println!("{}", serde_json::to_string(&v)?);
            } else {
                println!(
                    "{input} * {filters} filters {} (stride {stride}, padding {padding}) -> {out}",
                    kernel_shape.join("x")
                );
                println!(
                    "  per axis: floor(({} + 2*{padding} - {kernel}) / {stride}) + 1 = {}",
                    input.spatial[0], out.spatial[0]
                );
                println!("  parameters: {filters} * ({} + 1) = {params}", params / filters - 1);
            }
            Ok(())
        }
    }
}

/// `facestyle conv demo 1d|3d`: train a small network and report held-out metrics.
pub fn demo(dim: DemoDim, steps: Option<usize>, seed: u64, json_out: bool) -> anyhow::Result<()> {
    use facestyle_nn::demo::{DemoConfig, DemoRunner, blob3d, ecg1d};
    let (default_steps, runner, name): (usize, DemoRunner, &str) = match dim {
        DemoDim::OneD => (300, ecg1d::run, "1d"),
        DemoDim::ThreeD => (200, blob3d::run, "3d"),
    };
    let steps = steps.unwrap_or(default_steps);
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let config = DemoConfig { steps, batch: 16, lr: 0.01, seed };
    let bar = indicatif::ProgressBar::new(steps as u64).with_style(
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} loss {msg} ({eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("training {name}"));
    let device = facestyle_nn::device::default_device();
    let start = std::time::Instant::now();
    let report = runner(config, &device, &mut |_, loss| {
        bar.set_message(format!("{loss:.4}"));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    if json_out {
        println!("{}", serde_json::to_string(&Trained { report: &report, seconds })?);
    } else {
        println!("{} — {} steps in {seconds:.1} s", report.name, report.steps);
        println!("  loss: {:.4} -> {:.4}", report.losses[0], report.losses[report.losses.len() - 1]);
        println!("  {} on {} held-out examples:", report.metric, report.held_out);
        println!("    untrained network   {:.3}", report.before);
        println!("    {:<19} {:.3}", report.baseline_name, report.baseline);
        println!("    trained network     {:.3}", report.after);
    }
    Ok(())
}
