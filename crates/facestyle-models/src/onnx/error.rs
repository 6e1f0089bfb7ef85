//! Why an ONNX file cannot be decoded or folded: [`OnnxError`], each variant naming the part of
//! the file (model, graph, node, attribute, tensor, initializer) and the problem.

use std::fmt;

use super::wire::WireError;

/// Where in the file a problem lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Model,
    Graph,
    OpsetImport,
    ValueInfo,
    /// The node at this position in the graph (before its op type is known).
    Node(usize),
    /// A node by its label (`Conv node 'c'`).
    NodeLabel(String),
    /// An attribute, by name when known.
    Attribute(Option<String>),
    /// A tensor, by name when known.
    Tensor(Option<String>),
    /// The initializer at this position in the graph.
    Initializer(usize),
    /// The folding of a node, by its label.
    Folding(String),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Model => f.write_str("model"),
            Part::Graph => f.write_str("graph"),
            Part::OpsetImport => f.write_str("opset_import"),
            Part::ValueInfo => f.write_str("value info"),
            Part::Node(i) => write!(f, "node #{i}"),
            Part::NodeLabel(label) => f.write_str(label),
            Part::Attribute(None) => f.write_str("attribute"),
            Part::Attribute(Some(name)) => write!(f, "attribute '{name}'"),
            Part::Tensor(None) => f.write_str("tensor"),
            Part::Tensor(Some(name)) => write!(f, "tensor '{name}'"),
            Part::Initializer(i) => write!(f, "initializer #{i}"),
            Part::Folding(label) => write!(f, "folding {label}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    /// Bytes that are not valid protobuf.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A file that does not decode as an ONNX model, and why.
    #[error("not a valid ONNX model: {0}")]
    NotAModel(Box<OnnxError>),
    /// The problem inside one part of the file.
    #[error("{part}: {source}")]
    In { part: Part, source: Box<OnnxError> },
    #[error("external data not supported (weights stored outside the .onnx file)")]
    ExternalData,
    #[error("segmented tensors not supported")]
    Segmented,
    #[error("sparse initializers not supported")]
    Sparse,
    #[error("no graph (file empty, truncated, or not an ONNX model)")]
    NoGraph,
    #[error("more than one graph")]
    TwoGraphs,
    #[error("ir_version {0} but no opset_import (truncated file?)")]
    NoOpset(i64),
    /// A name given to two initializers or two attributes of a node.
    #[error("{what} '{name}' given twice")]
    Twice { what: &'static str, name: String },
    /// An initializer or attribute without a name.
    #[error("{0} has no name")]
    NoName(Part),
    #[error("field {0}: string is not UTF-8")]
    NotUtf8(u32),
    #[error("no op_type")]
    NoOpType,
    #[error("TENSOR attribute without a tensor")]
    NoTensor,
    #[error(
        "data type {code} ({name}) not supported (supported: FLOAT, FLOAT16, DOUBLE, INT64, INT32, INT8, UINT8)"
    )]
    DataType { code: i32, name: &'static str },
    #[error("negative dimension {dim} in dims {dims:?}")]
    NegativeDim { dim: i64, dims: Vec<i64> },
    #[error("dims {0:?} overflow")]
    DimsOverflow(Vec<i64>),
    #[error("raw_data has {bytes} bytes but dims {dims:?} need {count} elements of {width} bytes")]
    RawLength { bytes: usize, dims: Vec<usize>, count: usize, width: usize },
    /// A typed data field (`float_data`, `int32_data` ...) of the wrong length.
    #[error("{field} has {got} elements but dims {dims:?} need {count}")]
    ElementCount { field: &'static str, got: usize, dims: Vec<usize>, count: usize },
    #[error("int32_data value {0} out of range for the tensor's type")]
    IntRange(i64),
    /// A `DequantizeLinear` input of the wrong element type.
    #[error("{role} '{name}' is {got}, expected {expected}")]
    InputType { role: &'static str, name: String, got: &'static str, expected: &'static str },
    #[error("zero point '{zero_point}' is {zp_type} but x '{x}' is {x_type}")]
    ZeroPointType { zero_point: String, zp_type: &'static str, x: String, x_type: &'static str },
    #[error("zero point '{zero_point}' has shape {zp_dims:?} but scale '{scale}' has shape {scale_dims:?}")]
    ZeroPointShape { zero_point: String, zp_dims: Vec<usize>, scale: String, scale_dims: Vec<usize> },
    #[error("negative block_size {0}")]
    NegativeBlockSize(i64),
    #[error("scalar scale '{name}' has {count} values")]
    ScalarScale { name: String, count: usize },
    #[error("axis {axis} out of range for x '{x}' of shape {dims:?}")]
    Axis { axis: i64, x: String, dims: Vec<usize> },
    #[error(
        "per-axis scale '{scale}' has shape {got:?}, expected [{len}] (axis {axis} of x '{x}' of shape {dims:?})"
    )]
    PerAxisScale { scale: String, got: Vec<usize>, len: usize, axis: usize, x: String, dims: Vec<usize> },
    #[error(
        "blocked scale '{scale}' has shape {got:?}, expected {:?} (x '{x}' of shape {dims:?}, axis {axis}, block_size {block_size})",
        blocked_scale_dims(.dims, *.axis, *.block_size)
    )]
    BlockedScale {
        scale: String,
        got: Vec<usize>,
        x: String,
        dims: Vec<usize>,
        axis: usize,
        block_size: usize,
    },
    #[error("output '{0}' is already an initializer")]
    OutputIsInitializer(String),
    #[error(
        "folding would materialise more than {limit} bytes ({growth} times the model's decoded values plus {allowance_mib} MiB): the model copies its initializers too often"
    )]
    Budget { limit: usize, growth: usize, allowance_mib: usize },
    #[error("attribute '{0}' is not an int")]
    NotInt(String),
    #[error("missing input #{0}")]
    MissingInput(usize),
    #[error("shape '{0}' must be a 1-D int64 tensor")]
    ShapeTensor(String),
    #[error("shape {spec:?}: 0 at position {position} but the input has rank {rank}")]
    ZeroBeyondRank { spec: Vec<i64>, position: usize, rank: usize },
    #[error("shape {0:?} has more than one -1")]
    TwoInferred(Vec<i64>),
    #[error("shape {spec:?}: {dim} too large")]
    DimTooLarge { spec: Vec<i64>, dim: i64 },
    #[error("shape {spec:?}: invalid dimension {dim}")]
    InvalidDim { spec: Vec<i64>, dim: i64 },
    #[error("cannot reshape '{name}' of shape {dims:?} ({numel} values) to {spec:?}")]
    Reshape { name: String, dims: Vec<usize>, numel: usize, spec: Vec<i64> },
}

/// The shape of a blocked scale for x of shape `dims`: `ceil(dims[axis] / block_size)` along
/// `axis`.
pub fn blocked_scale_dims(dims: &[usize], axis: usize, block_size: usize) -> Vec<usize> {
    let mut out = dims.to_vec();
    if let Some(d) = out.get_mut(axis) {
        *d = d.div_ceil(block_size.max(1));
    }
    out
}

impl OnnxError {
    /// This error placed in `part` of the file.
    pub fn within(self, part: Part) -> Self {
        OnnxError::In { part, source: Box::new(self) }
    }

    /// A closure that places an error in `part`, for `map_err`.
    pub fn at<E: Into<OnnxError>>(part: Part) -> impl FnOnce(E) -> OnnxError {
        move |e| e.into().within(part)
    }
}

pub type Result<T> = std::result::Result<T, OnnxError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelError;
    use crate::onnx::OnnxModel;
    use crate::onnx::wire::WireProblem;

    #[test]
    fn errors_are_typed_and_name_the_part() {
        let err = OnnxModel::from_bytes(b"", "empty.onnx").unwrap_err();
        let ModelError::Onnx { source, .. } = &err else { panic!("{err:?}") };
        assert!(matches!(&**source, OnnxError::NotAModel(e) if **e == OnnxError::NoGraph));
        assert_eq!(
            err.to_string(),
            "empty.onnx: not a valid ONNX model: no graph (file empty, truncated, or not an ONNX model)"
        );
        // A tag with no value: the wire problem, inside the model.
        let err = OnnxModel::from_bytes(&[0x08], "t.onnx").unwrap_err();
        let ModelError::Onnx { source, .. } = &err else { panic!("{err:?}") };
        let OnnxError::NotAModel(e) = &**source else { panic!("{source:?}") };
        let OnnxError::In { part: Part::Model, source } = &**e else { panic!("{e:?}") };
        assert!(matches!(&**source, OnnxError::Wire(w) if w.problem == WireProblem::TruncatedVarint));
        assert_eq!(err.to_string(), "t.onnx: not a valid ONNX model: model: truncated varint at byte 1");
    }
}
