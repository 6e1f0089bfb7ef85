//! Output-size arithmetic of a convolution: `floor((n + 2p - f) / s) + 1` per spatial axis.
//!
//! Shapes are written channels-last, as in the course notes: a 14x1 signal, a 14x14x3 image,
//! a 14x14x14x1 volume. The last number is always the channel count.

use std::fmt;
use std::str::FromStr;

/// A channels-last shape: spatial sizes followed by the channel count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelsLast {
    pub spatial: Vec<usize>,
    pub channels: usize,
}

impl ChannelsLast {
    /// Number of spatial dimensions (1 for a signal, 2 for an image, 3 for a volume).
    pub fn rank(&self) -> usize {
        self.spatial.len()
    }
}

impl fmt::Display for ChannelsLast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.spatial {
            write!(f, "{n}x")?;
        }
        write!(f, "{}", self.channels)
    }
}

impl FromStr for ChannelsLast {
    type Err = String;

    /// Parses `14x1`, `14x14x3`, `14x14x14x1`: 1 to 3 spatial sizes then the channels.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts = s
            .split(['x', 'X'])
            .map(|p| {
                p.trim().parse::<usize>().map_err(|_| format!("shape {s:?}: {p:?} is not a whole number"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(2..=4).contains(&parts.len()) {
            return Err(format!(
                "shape {s:?}: expected 2 to 4 sizes (e.g. 14x1, 14x14x3, 14x14x14x1), got {}",
                parts.len()
            ));
        }
        if parts.contains(&0) {
            return Err(format!("shape {s:?}: sizes must be positive"));
        }
        let (spatial, channels) = parts.split_at(parts.len() - 1);
        Ok(Self { spatial: spatial.to_vec(), channels: channels[0] })
    }
}

/// Hyper-parameters of one convolution layer, the same on every spatial axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    pub filters: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// Why a convolution cannot be applied to an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("stride must be at least 1")]
    ZeroStride,
    #[error("kernel and filter count must be at least 1")]
    EmptyKernel,
    #[error("kernel {kernel} is larger than the padded input {padded} on axis {axis}")]
    KernelTooLarge { axis: usize, kernel: usize, padded: usize },
}

/// `floor((n + 2p - f) / s) + 1`: output length of one axis.
pub fn conv_output_len(n: usize, kernel: usize, stride: usize, padding: usize) -> Result<usize, ShapeError> {
    if stride == 0 {
        return Err(ShapeError::ZeroStride);
    }
    if kernel == 0 {
        return Err(ShapeError::EmptyKernel);
    }
    let padded = n + 2 * padding;
    if kernel > padded {
        return Err(ShapeError::KernelTooLarge { axis: 0, kernel, padded });
    }
    Ok((padded - kernel) / stride + 1)
}

/// "Same" padding for an odd kernel at stride 1: `(f - 1) / 2`.
pub fn same_padding(kernel: usize) -> usize {
    kernel.saturating_sub(1) / 2
}

/// Output shape of a convolution, channels-last: each spatial axis shrinks by the formula and
/// the channel count becomes the number of filters (each filter spans all input channels).
pub fn conv_output_shape(input: &ChannelsLast, spec: &ConvSpec) -> Result<ChannelsLast, ShapeError> {
    if spec.filters == 0 {
        return Err(ShapeError::EmptyKernel);
    }
    let spatial = input
        .spatial
        .iter()
        .enumerate()
        .map(|(axis, &n)| {
            conv_output_len(n, spec.kernel, spec.stride, spec.padding).map_err(|e| match e {
                ShapeError::KernelTooLarge { kernel, padded, .. } => {
                    ShapeError::KernelTooLarge { axis, kernel, padded }
                }
                other => other,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ChannelsLast { spatial, channels: spec.filters })
}

/// Number of learned parameters of the layer: `filters * (f^d * channels_in + 1)`.
pub fn conv_param_count(input: &ChannelsLast, spec: &ConvSpec) -> usize {
    let per_filter = spec.kernel.pow(input.rank() as u32) * input.channels;
    spec.filters * (per_filter + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(filters: usize, kernel: usize, stride: usize, padding: usize) -> ConvSpec {
        ConvSpec { filters, kernel, stride, padding }
    }

    #[test]
    fn seed_shapes_by_hand() {
        // (14 + 0 - 5) / 1 + 1 = 10 on every axis; channels become the 16 filters.
        let cases = [("14x1", "10x16"), ("14x14x3", "10x10x16"), ("14x14x14x1", "10x10x10x16")];
        for (input, expected) in cases {
            let input: ChannelsLast = input.parse().unwrap();
            let out = conv_output_shape(&input, &spec(16, 5, 1, 0)).unwrap();
            assert_eq!(out.to_string(), expected);
        }
    }

    #[test]
    fn padding_and_stride_by_hand() {
        // 6x6 * 3x3, p=0, s=1 -> 4x4 (the course's first example).
        assert_eq!(conv_output_len(6, 3, 1, 0), Ok(4));
        // 6x6 * 3x3, p=1 -> 6x6 ("same").
        assert_eq!(conv_output_len(6, 3, 1, same_padding(3)), Ok(6));
        // 7x7 * 3x3, s=2 -> 3x3.
        assert_eq!(conv_output_len(7, 3, 2, 0), Ok(3));
        // floor: (7 + 2 - 3) / 2 + 1 = 4.
        assert_eq!(conv_output_len(7, 3, 2, 1), Ok(4));
        // 224 * 7x7 s=2 p=3 -> 112 (ResNet stem).
        assert_eq!(conv_output_len(224, 7, 2, 3), Ok(112));
        // 39x39x3, f=3, s=1, 10 filters -> 37x37x10 (course ConvNet example).
        let out = conv_output_shape(&"39x39x3".parse().unwrap(), &spec(10, 3, 1, 0)).unwrap();
        assert_eq!(out.to_string(), "37x37x10");
        // then f=5 s=2 20 filters -> 17x17x20; then f=5 s=2 40 filters -> 7x7x40.
        let out = conv_output_shape(&out, &spec(20, 5, 2, 0)).unwrap();
        assert_eq!(out.to_string(), "17x17x20");
        let out = conv_output_shape(&out, &spec(40, 5, 2, 0)).unwrap();
        assert_eq!(out.to_string(), "7x7x40");
    }

    #[test]
    fn parameter_counts_by_hand() {
        // 10 filters of 3x3x3 + bias: 10 * 28 = 280.
        assert_eq!(conv_param_count(&"6x6x3".parse().unwrap(), &spec(10, 3, 1, 0)), 280);
        // 16 filters of 5x5x5x1 + bias: 16 * 126 = 2016.
        assert_eq!(conv_param_count(&"14x14x14x1".parse().unwrap(), &spec(16, 5, 1, 0)), 2016);
        // 16 filters of 5x1 + bias: 16 * 6 = 96.
        assert_eq!(conv_param_count(&"14x1".parse().unwrap(), &spec(16, 5, 1, 0)), 96);
    }

    #[test]
    fn bad_shapes_are_refused() {
        assert!("14".parse::<ChannelsLast>().is_err());
        assert!("14x14x14x14x1".parse::<ChannelsLast>().is_err());
        assert!("14xax3".parse::<ChannelsLast>().is_err());
        assert!("0x14x3".parse::<ChannelsLast>().is_err());
        assert_eq!(
            conv_output_len(4, 5, 1, 0),
            Err(ShapeError::KernelTooLarge { axis: 0, kernel: 5, padded: 4 })
        );
        assert_eq!(conv_output_len(14, 5, 0, 0), Err(ShapeError::ZeroStride));
        let err = conv_output_shape(&"14x3x1".parse().unwrap(), &spec(16, 5, 1, 0)).unwrap_err();
        assert_eq!(err, ShapeError::KernelTooLarge { axis: 1, kernel: 5, padded: 3 });
    }
}
