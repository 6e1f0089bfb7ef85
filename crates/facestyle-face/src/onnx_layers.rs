//! Reads a folded ONNX graph as an ordered list of layer records (convolutions, batch norms,
//! PReLU slopes, the final fully connected layer). The burn networks in `yunet.rs` and
//! `sface.rs` consume these records in graph order and check every shape and attribute against
//! their own definition, so a different file fails at load time with a named mismatch.

use std::collections::VecDeque;
use std::path::PathBuf;

use facestyle_models::ModelError;
use facestyle_models::onnx::{BlockQuantized, Node, OnnxModel};
use facestyle_nn::pretrained::ConvGeometry;

use crate::error::Result;

/// A convolution: OIHW weight, optional bias, geometry.
#[derive(Debug, Clone)]
pub struct ConvRecord {
    pub name: String,
    pub shape: [usize; 4],
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub geometry: ConvGeometry,
}

/// An inference-mode batch normalisation.
#[derive(Debug, Clone)]
pub struct BnRecord {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f32,
}

/// Queues of layer records in graph order, plus access to named constants.
pub struct OnnxLayers {
    pub path: PathBuf,
    model: OnnxModel,
    convs: VecDeque<ConvRecord>,
    bns: VecDeque<BnRecord>,
    prelus: VecDeque<Vec<f32>>,
    /// The first `Gemm`'s weight as the file stores it, when block-quantized int8.
    gemm_quantized: Option<BlockQuantized>,
}

impl OnnxLayers {
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// The layer records of a serialized ONNX model; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &std::path::Path) -> Result<Self> {
        let mut model = OnnxModel::from_bytes(bytes, path)?;
        // Read before folding replaces the DequantizeLinear node with its f32 result.
        let gemm_quantized = model
            .nodes
            .iter()
            .find(|n| n.op_type == "Gemm")
            .and_then(|n| n.inputs.get(1))
            .and_then(|w| model.block_quantized(w));
        model.fold_constants()?;
        let mut layers = OnnxLayers {
            path: path.to_path_buf(),
            convs: VecDeque::new(),
            bns: VecDeque::new(),
            prelus: VecDeque::new(),
            gemm_quantized,
            model,
        };
        let nodes = layers.model.nodes.clone();
        for node in &nodes {
            match node.op_type.as_str() {
                "Conv" => {
                    let c = layers.conv_record(node)?;
                    layers.convs.push_back(c);
                }
                "BatchNormalization" => {
                    let b = layers.bn_record(node)?;
                    layers.bns.push_back(b);
                }
                "PRelu" => {
                    let p = layers.input(node, 1)?;
                    layers.prelus.push_back(p);
                }
                _ => {}
            }
        }
        Ok(layers)
    }

    fn err(&self, problem: impl Into<String>) -> crate::error::FaceError {
        ModelError::invalid(&self.path, problem).into()
    }

    /// The name of input `i` of `node`; an error when the node has no such input.
    fn input_name<'n>(&self, node: &'n Node, i: usize) -> Result<&'n str> {
        node.inputs
            .get(i)
            .filter(|n| !n.is_empty())
            .map(String::as_str)
            .ok_or_else(|| self.err(format!("{} has no input {i}", node.label())))
    }

    fn input(&self, node: &Node, i: usize) -> Result<Vec<f32>> {
        Ok(self.model.weight(self.input_name(node, i)?)?.data)
    }

    fn ints(&self, node: &Node, name: &str, default: &[i64]) -> Vec<i64> {
        node.attr(name).and_then(|a| a.as_ints()).map(<[i64]>::to_vec).unwrap_or_else(|| default.to_vec())
    }

    fn conv_record(&self, node: &Node) -> Result<ConvRecord> {
        let wname = self.input_name(node, 1)?.to_string();
        let w = self.model.weight(&wname)?;
        let shape: [usize; 4] =
            w.shape.clone().try_into().map_err(|_| {
                self.err(format!("{}: weight '{wname}' is not 4-D: {:?}", node.label(), w.shape))
            })?;
        let bias =
            if node.inputs.len() > 2 && !node.inputs[2].is_empty() { self.input(node, 2)? } else { vec![] };
        let strides = self.ints(node, "strides", &[1, 1]);
        let pads = self.ints(node, "pads", &[0, 0, 0, 0]);
        let dil = self.ints(node, "dilations", &[1, 1]);
        let groups = node.attr("group").and_then(|a| a.as_int()).unwrap_or(1);
        let square = strides.len() == 2
            && strides[0] == strides[1]
            && pads.len() == 4
            && pads.iter().all(|&p| p == pads[0]);
        if !square || dil.iter().any(|&d| d != 1) || shape[2] != shape[3] {
            return Err(self.err(format!(
                "{}: unsupported convolution (strides {strides:?}, pads {pads:?}, dilations {dil:?}, kernel {:?})",
                node.label(),
                &shape[2..]
            )));
        }
        Ok(ConvRecord {
            name: wname,
            shape,
            weight: w.data,
            bias,
            geometry: ConvGeometry {
                stride: strides[0] as usize,
                padding: pads[0] as usize,
                groups: groups as usize,
            },
        })
    }

    fn bn_record(&self, node: &Node) -> Result<BnRecord> {
        Ok(BnRecord {
            gamma: self.input(node, 1)?,
            beta: self.input(node, 2)?,
            mean: self.input(node, 3)?,
            var: self.input(node, 4)?,
            eps: node.attr("epsilon").and_then(|a| a.as_float()).unwrap_or(1e-5),
        })
    }

    /// The next convolution, checked against the network's expectation; a convolution without
    /// a bias gets a zero bias.
    pub fn next_conv(
        &mut self,
        out: usize,
        inp: usize,
        k: usize,
        geometry: ConvGeometry,
    ) -> Result<ConvRecord> {
        let mut c =
            self.convs.pop_front().ok_or_else(|| self.err("fewer convolutions than the network needs"))?;
        let want = [out, inp / geometry.groups, k, k];
        if c.shape != want || c.geometry != geometry {
            return Err(self.err(format!(
                "convolution '{}' is {:?} {:?}, the network expects {want:?} {geometry:?}",
                c.name, c.shape, c.geometry
            )));
        }
        if !c.bias.is_empty() && c.bias.len() != out {
            return Err(self.err(format!(
                "convolution '{}' has {} biases for {out} filters",
                c.name,
                c.bias.len()
            )));
        }
        c.bias.resize(out, 0.0);
        Ok(c)
    }

    pub fn next_bn(&mut self, channels: usize) -> Result<BnRecord> {
        let b = self.bns.pop_front().ok_or_else(|| self.err("fewer batch norms than the network needs"))?;
        if [&b.gamma, &b.beta, &b.mean, &b.var].iter().any(|v| v.len() != channels) {
            return Err(
                self.err(format!("batch norm of {} channels, the network expects {channels}", b.gamma.len()))
            );
        }
        Ok(b)
    }

    pub fn next_prelu(&mut self, channels: usize) -> Result<Vec<f32>> {
        let p =
            self.prelus.pop_front().ok_or_else(|| self.err("fewer PReLU layers than the network needs"))?;
        if p.len() != channels {
            return Err(self.err(format!("PReLU with {} slopes, the network expects {channels}", p.len())));
        }
        Ok(p)
    }

    /// A named constant (e.g. an input scale), checked to hold `len` values.
    pub fn constant(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let w = self.model.weight(name)?;
        if w.data.len() != len {
            return Err(self.err(format!("constant '{name}' holds {} values, expected {len}", w.data.len())));
        }
        Ok(w.data)
    }

    /// The weight and bias of the first `Gemm` node (`transB = 1`: weight is `[out, in]`).
    pub fn gemm(&self) -> Result<(Vec<f32>, Vec<usize>, Vec<f32>)> {
        let node = self
            .model
            .nodes
            .iter()
            .find(|n| n.op_type == "Gemm")
            .ok_or_else(|| self.err("no Gemm (fully connected) node"))?;
        let w = self.model.weight(self.input_name(node, 1)?)?;
        Ok((w.data, w.shape, self.input(node, 2)?))
    }

    /// The first `Gemm`'s weight as the file stores it (`[out, in]` int8 in blocks along the
    /// inputs), when it is stored that way; taken once.
    pub fn take_gemm_quantized(&mut self) -> Option<BlockQuantized> {
        self.gemm_quantized.take()
    }

    /// Errors unless every record was consumed (the file has layers the network lacks).
    pub fn finish(&self) -> Result<()> {
        if !self.convs.is_empty() || !self.bns.is_empty() || !self.prelus.is_empty() {
            return Err(self.err(format!(
                "the file has layers the network does not use: {} convolutions, {} batch norms, {} PReLUs left",
                self.convs.len(),
                self.bns.len(),
                self.prelus.len()
            )));
        }
        Ok(())
    }
}
