//! `facestyle conv ...`

use anyhow::{Context, bail};
use clap::Subcommand;
use facestyle_nn::conv_shape::{ChannelsLast, ConvSpec, conv_output_shape, conv_param_count, same_padding};
use serde_json::json;

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
}

pub fn run(command: ConvCommand, json_out: bool) -> anyhow::Result<()> {
    match command {
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
                let v = json!({
                    "input": input.to_string(), "output": out.to_string(),
                    "output_dims": out.spatial.iter().chain([&out.channels]).collect::<Vec<_>>(),
                    "filters": filters, "kernel": kernel, "stride": stride, "padding": padding,
                    "filter_shape": kernel_shape.join("x"), "parameters": params,
                });
                println!("{v}");
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
