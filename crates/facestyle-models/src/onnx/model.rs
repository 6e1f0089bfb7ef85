//! ONNX `ModelProto` and `GraphProto`: the [`OnnxModel`] and how it is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{OnnxError, Part};
use super::node::{Node, expect_bytes, expect_string, expect_varint, parse_node};
use super::tensor::{Tensor, TensorValues, parse_tensor};
use super::wire::Reader;
use crate::error::{ModelError, Result};
use crate::tensor::WeightTensor;

/// One `opset_import` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opset {
    /// Operator domain; empty for the default `ai.onnx` domain.
    pub domain: String,
    /// Opset version.
    pub version: i64,
}

/// An ONNX model: its graph structure and its initializers, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxModel {
    /// The file the model was read from (used in error messages).
    pub path: PathBuf,
    /// `ModelProto.ir_version`.
    pub ir_version: i64,
    /// `ModelProto.producer_name`.
    pub producer_name: String,
    /// `ModelProto.opset_import`.
    pub opsets: Vec<Opset>,
    /// `GraphProto.name`.
    pub graph_name: String,
    /// Names of the graph inputs. Old exporters also list initializers here; see
    /// [`OnnxModel::runtime_inputs`].
    pub graph_inputs: Vec<String>,
    /// Names of the graph outputs.
    pub graph_outputs: Vec<String>,
    /// Nodes in file (topological) order.
    pub nodes: Vec<Node>,
    /// Initializers by name.
    pub initializers: BTreeMap<String, Tensor>,
}

impl OnnxModel {
    /// Reads and decodes an `.onnx` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Reads an `.onnx` file and folds its constant subgraphs ([`OnnxModel::fold_constants`]).
    pub fn load_folded(path: impl AsRef<Path>) -> Result<Self> {
        let mut model = Self::load(path)?;
        model.fold_constants()?;
        Ok(model)
    }

    /// Decodes a serialized `ModelProto`; `path` only names the source in errors.
    pub fn from_bytes(bytes: &[u8], path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        parse_model(bytes, path).map_err(|e| ModelError::onnx(path, OnnxError::NotAModel(Box::new(e))))
    }

    /// The opset version imported for `domain` (`""` or `"ai.onnx"` for the default domain).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let default = |d: &str| d.is_empty() || d == "ai.onnx";
        self.opsets
            .iter()
            .find(|o| o.domain == domain || (default(domain) && default(&o.domain)))
            .map(|o| o.version)
    }

    /// Graph inputs that are not initializers: what a caller has to feed.
    pub fn runtime_inputs(&self) -> Vec<&str> {
        self.graph_inputs
            .iter()
            .filter(|name| !self.initializers.contains_key(*name))
            .map(String::as_str)
            .collect()
    }

    /// Every float initializer (FLOAT, FLOAT16 and DOUBLE, as f32), sorted by name.
    /// Call [`OnnxModel::fold_constants`] first to get quantized weights dequantized.
    pub fn weights(&self) -> Vec<WeightTensor> {
        self.initializers
            .values()
            .filter_map(|t| {
                t.as_f32().map(|data| WeightTensor::new(t.name.clone(), t.dims.clone(), data.to_vec()))
            })
            .collect()
    }

    /// Like [`OnnxModel::weights`], without copying the values.
    pub fn into_weights(self) -> Vec<WeightTensor> {
        self.initializers
            .into_values()
            .filter_map(|t| match t.values {
                TensorValues::F32(data) => Some(WeightTensor::new(t.name, t.dims, data)),
                _ => None,
            })
            .collect()
    }

    /// The float initializer `name`; errors (naming the file) when it is missing or not float.
    pub fn weight(&self, name: &str) -> Result<WeightTensor> {
        let t = self
            .initializers
            .get(name)
            .ok_or_else(|| ModelError::invalid(&self.path, format!("no initializer named '{name}'")))?;
        let data = t.as_f32().ok_or_else(|| {
            ModelError::invalid(
                &self.path,
                format!("initializer '{name}' holds {} values, not floats (is it still quantized? fold_constants first)", t.values.type_name()),
            )
        })?;
        Ok(WeightTensor::new(name, t.dims.clone(), data.to_vec()))
    }

    /// The float initializer `name`, checked to have shape `dims`.
    pub fn expect_weight(&self, name: &str, dims: &[usize]) -> Result<WeightTensor> {
        let w = self.weight(name)?;
        if w.shape != dims {
            return Err(ModelError::invalid(
                &self.path,
                format!("initializer '{name}' has shape {:?}, expected {dims:?}", w.shape),
            ));
        }
        Ok(w)
    }
}

fn parse_model(bytes: &[u8], path: &Path) -> super::error::Result<OnnxModel> {
    let mut model = OnnxModel {
        path: path.to_path_buf(),
        ir_version: 0,
        producer_name: String::new(),
        opsets: Vec::new(),
        graph_name: String::new(),
        graph_inputs: Vec::new(),
        graph_outputs: Vec::new(),
        nodes: Vec::new(),
        initializers: BTreeMap::new(),
    };
    let mut graph = None;
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.next_field().map_err(OnnxError::at(Part::Model))? {
        match field {
            1 => model.ir_version = expect_varint(field, value)? as i64,
            2 => model.producer_name = expect_string(field, value)?,
            7 if graph.is_some() => return Err(OnnxError::TwoGraphs),
            7 => graph = Some(expect_bytes(field, value)?),
            8 => model
                .opsets
                .push(parse_opset(expect_bytes(field, value)?).map_err(OnnxError::at(Part::OpsetImport))?),
            _ => {}
        }
    }
    let graph = graph.ok_or(OnnxError::NoGraph)?;
    if model.ir_version >= 3 && model.opsets.is_empty() {
        return Err(OnnxError::NoOpset(model.ir_version));
    }
    parse_graph(graph, &mut model)?;
    Ok(model)
}

fn parse_opset(bytes: &[u8]) -> super::error::Result<Opset> {
    let mut opset = Opset { domain: String::new(), version: 0 };
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.next_field()? {
        match field {
            1 => opset.domain = expect_string(field, value)?,
            2 => opset.version = expect_varint(field, value)? as i64,
            _ => {}
        }
    }
    Ok(opset)
}

fn parse_graph(bytes: &[u8], model: &mut OnnxModel) -> super::error::Result<()> {
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.next_field().map_err(OnnxError::at(Part::Graph))? {
        match field {
            1 => {
                let index = model.nodes.len();
                model.nodes.push(parse_node(expect_bytes(field, value)?, index)?);
            }
            2 => model.graph_name = expect_string(field, value)?,
            5 => {
                let index = model.initializers.len();
                let t = parse_tensor(expect_bytes(field, value)?)
                    .map_err(OnnxError::at(Part::Initializer(index)))?;
                if t.name.is_empty() {
                    return Err(OnnxError::NoName(Part::Initializer(index)));
                }
                if model.initializers.contains_key(&t.name) {
                    return Err(OnnxError::Twice { what: "initializer", name: t.name });
                }
                model.initializers.insert(t.name.clone(), t);
            }
            11 => model.graph_inputs.push(value_info_name(expect_bytes(field, value)?)?),
            12 => model.graph_outputs.push(value_info_name(expect_bytes(field, value)?)?),
            15 => return Err(OnnxError::Sparse),
            _ => {}
        }
    }
    Ok(())
}

fn value_info_name(bytes: &[u8]) -> super::error::Result<String> {
    let mut name = String::new();
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.next_field().map_err(OnnxError::at(Part::ValueInfo))? {
        if field == 1 {
            name = expect_string(field, value)?;
        }
    }
    Ok(name)
}
