//! Constant folding: evaluates the nodes whose inputs are all initializers, for the few
//! operators that quantized weight files use to store their weights (`Constant`,
//! `DequantizeLinear`, `Reshape`, `Identity`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::error::{OnnxError, Part};
use super::model::OnnxModel;
use super::node::{ATTR_GRAPH, ATTR_GRAPHS, Attr, Node};
use super::quant::dequantize_linear;
use super::tensor::{Tensor, TensorValues};
use crate::error::{ModelError, Result};

type FoldResult<T> = std::result::Result<T, OnnxError>;

/// Operators [`OnnxModel::fold_constants`] can evaluate.
pub const FOLDABLE_OPS: [&str; 4] = ["Constant", "DequantizeLinear", "Reshape", "Identity"];

/// Folding may materialise at most this many times the bytes of the model's decoded values
/// (dequantizing int8 weights to f32 takes 4), plus [`FOLD_ALLOWANCE`]: a small file whose
/// many nodes all read one large initializer cannot make a copy per node.
const FOLD_GROWTH: usize = 8;
/// Bytes folding may always materialise, whatever the model's size.
const FOLD_ALLOWANCE: usize = 16 << 20;

impl OnnxModel {
    /// Repeatedly evaluates the foldable nodes (see [`FOLDABLE_OPS`]) whose inputs are all
    /// initializers: their outputs become initializers and the nodes are removed. Then drops
    /// the initializers and graph inputs that no remaining node nor graph output uses (such as
    /// the stale inputs quantizers leave behind). Returns the number of nodes folded.
    ///
    /// `Identity` and `Reshape` move their input when nothing else uses it, and copy it
    /// otherwise; the bytes copied or computed are bounded (a multiple of the model's decoded
    /// values), beyond which folding stops with an error.
    ///
    /// Nothing is dropped when a node carries a subgraph (`If`, `Loop`...), whose uses of
    /// outer initializers are not tracked.
    pub fn fold_constants(&mut self) -> Result<usize> {
        let mut folder = Folder::new(self);
        let mut folded = 0;
        loop {
            let mut changed = false;
            let mut kept = Vec::with_capacity(self.nodes.len());
            for node in std::mem::take(&mut self.nodes) {
                if !self.ready(&node) {
                    kept.push(node);
                    continue;
                }
                match folder.evaluate(&node, &mut self.initializers) {
                    Ok(Some(mut out)) => {
                        let name = node.outputs.first().cloned().unwrap_or_default();
                        if self.initializers.contains_key(&name) {
                            return Err(self.node_error(&node, OnnxError::OutputIsInitializer(name)));
                        }
                        folder.folded(&node);
                        out.name = name.clone();
                        self.initializers.insert(name, out);
                        folded += 1;
                        changed = true;
                    }
                    Ok(None) => kept.push(node),
                    Err(problem) => return Err(self.node_error(&node, problem)),
                }
            }
            self.nodes = kept;
            if !changed {
                break;
            }
        }
        self.drop_unused();
        Ok(folded)
    }

    fn ready(&self, node: &Node) -> bool {
        FOLDABLE_OPS.contains(&node.op_type.as_str())
            && (node.domain.is_empty() || node.domain == "ai.onnx")
            && node.outputs.len() == 1
            && node.inputs.iter().all(|i| i.is_empty() || self.initializers.contains_key(i))
    }

    fn node_error(&self, node: &Node, problem: OnnxError) -> ModelError {
        ModelError::onnx(&self.path, problem.within(Part::Folding(node.label())))
    }

    fn drop_unused(&mut self) {
        if has_subgraphs(&self.nodes) {
            return;
        }
        let used: BTreeSet<&str> = self
            .nodes
            .iter()
            .flat_map(|n| n.inputs.iter())
            .chain(self.graph_outputs.iter())
            .map(String::as_str)
            .collect();
        self.initializers.retain(|k, _| used.contains(k.as_str()));
        self.graph_inputs.retain(|i| used.contains(i.as_str()));
    }
}

/// The state of one folding: how often each value is still read (by the nodes not folded
/// yet, by graph outputs, by subgraphs), and the bytes still allowed to be materialised.
struct Folder {
    uses: HashMap<String, usize>,
    budget: usize,
    limit: usize,
}

impl Folder {
    fn new(model: &OnnxModel) -> Self {
        let mut uses: HashMap<String, usize> = HashMap::new();
        for name in model.nodes.iter().flat_map(|n| n.inputs.iter()).chain(model.graph_outputs.iter()) {
            *uses.entry(name.clone()).or_default() += 1;
        }
        // Subgraphs may read any outer value: nothing is moved out from under them.
        if has_subgraphs(&model.nodes) {
            uses.values_mut().for_each(|n| *n = usize::MAX);
        }
        let attrs = model.nodes.iter().flat_map(|n| n.attrs.values()).filter_map(Attr::as_tensor);
        let decoded: usize = model.initializers.values().chain(attrs).map(Tensor::byte_size).sum();
        let limit = decoded.saturating_mul(FOLD_GROWTH).saturating_add(FOLD_ALLOWANCE);
        Folder { uses, budget: limit, limit }
    }

    /// Takes `bytes` from the budget before they are allocated.
    fn charge(&mut self, bytes: usize) -> FoldResult<()> {
        self.budget = self.budget.checked_sub(bytes).ok_or(OnnxError::Budget {
            limit: self.limit,
            growth: FOLD_GROWTH,
            allowance_mib: FOLD_ALLOWANCE >> 20,
        })?;
        Ok(())
    }

    /// The node's inputs are read: one use fewer each.
    fn folded(&mut self, node: &Node) {
        for i in &node.inputs {
            if let Some(n) = self.uses.get_mut(i) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Input `k` of `node`'s values for an output that keeps them: moved out of `inits` when
    /// this node is their only reader, else copied (within the budget).
    fn take(
        &mut self,
        node: &Node,
        k: usize,
        inits: &mut BTreeMap<String, Tensor>,
    ) -> FoldResult<TensorValues> {
        input(node, inits, k)?;
        let name = &node.inputs[k];
        let readers = node.inputs.iter().filter(|i| *i == name).count();
        if self.uses.get(name) == Some(&1)
            && readers == 1
            && let Some(t) = inits.remove(name)
        {
            return Ok(t.values);
        }
        let t = input(node, inits, k)?;
        self.charge(t.byte_size())?;
        Ok(t.values.clone())
    }

    /// Evaluates one node; `Ok(None)` leaves it in the graph (a form we do not fold).
    fn evaluate(&mut self, node: &Node, inits: &mut BTreeMap<String, Tensor>) -> FoldResult<Option<Tensor>> {
        let int_attr = |name: &str, default: i64| -> FoldResult<i64> {
            match node.attr(name) {
                None => Ok(default),
                Some(a) => a.as_int().ok_or_else(|| OnnxError::NotInt(name.to_string())),
            }
        };
        let dims = match node.op_type.as_str() {
            "Identity" => input(node, inits, 0)?.dims.clone(),
            "Reshape" => {
                let allowzero = int_attr("allowzero", 0)? != 0;
                reshape_dims(input(node, inits, 0)?, input(node, inits, 1)?, allowzero)?
            }
            "DequantizeLinear" => {
                let x = input(node, inits, 0)?;
                self.charge(x.numel().saturating_mul(4))?;
                let zero_point = node.inputs.get(2).filter(|n| !n.is_empty()).and_then(|n| inits.get(n));
                let (axis, block) = (int_attr("axis", 1)?, int_attr("block_size", 0)?);
                return dequantize_linear(x, input(node, inits, 1)?, zero_point, axis, block).map(Some);
            }
            "Constant" => {
                self.charge(node.attrs.values().next().map_or(0, Attr::byte_size))?;
                return Ok(constant(node));
            }
            _ => return Ok(None),
        };
        Ok(Some(Tensor { name: String::new(), dims, values: self.take(node, 0, inits)? }))
    }
}

/// Whether a node carries a subgraph (`If`, `Loop`...), which may read any outer value.
fn has_subgraphs(nodes: &[Node]) -> bool {
    nodes.iter().flat_map(|n| n.attrs.values()).any(|a| matches!(a, Attr::Other(ATTR_GRAPH | ATTR_GRAPHS)))
}

/// Input `k` of `node`, which must be an initializer.
fn input<'a>(node: &Node, inits: &'a BTreeMap<String, Tensor>, k: usize) -> FoldResult<&'a Tensor> {
    node.inputs.get(k).filter(|n| !n.is_empty()).and_then(|n| inits.get(n)).ok_or(OnnxError::MissingInput(k))
}

/// The value of a `Constant` node, for the `value`, `value_float(s)` and `value_int(s)` forms.
fn constant(node: &Node) -> Option<Tensor> {
    let (name, attr) = node.attrs.iter().next()?;
    let (dims, values) = match (name.as_str(), attr) {
        ("value", Attr::Tensor(t)) => return Some(t.clone()),
        ("value_float", Attr::Float(v)) => (vec![], TensorValues::F32(vec![*v])),
        ("value_floats", Attr::Floats(v)) => (vec![v.len()], TensorValues::F32(v.clone())),
        ("value_int", Attr::Int(v)) => (vec![], TensorValues::I64(vec![*v])),
        ("value_ints", Attr::Ints(v)) => (vec![v.len()], TensorValues::I64(v.clone())),
        _ => return None,
    };
    Some(Tensor { name: String::new(), dims, values })
}

/// `Reshape`: `0` copies the input dimension (unless `allowzero`), `-1` is inferred.
#[cfg(test)]
pub(crate) fn reshape(data: &Tensor, shape: &Tensor, allowzero: bool) -> FoldResult<Tensor> {
    let dims = reshape_dims(data, shape, allowzero)?;
    Ok(Tensor { name: String::new(), dims, values: data.values.clone() })
}

/// The output shape of `Reshape` of `data` to `shape`.
fn reshape_dims(data: &Tensor, shape: &Tensor, allowzero: bool) -> FoldResult<Vec<usize>> {
    let spec = shape
        .as_i64()
        .filter(|_| shape.dims.len() == 1)
        .ok_or_else(|| OnnxError::ShapeTensor(shape.name.clone()))?;
    let mut dims = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (k, &d) in spec.iter().enumerate() {
        dims.push(match d {
            0 if allowzero => 0,
            0 => *data.dims.get(k).ok_or_else(|| OnnxError::ZeroBeyondRank {
                spec: spec.to_vec(),
                position: k,
                rank: data.dims.len(),
            })?,
            -1 if infer.is_none() => {
                infer = Some(k);
                1
            }
            -1 => return Err(OnnxError::TwoInferred(spec.to_vec())),
            d if d > 0 => {
                usize::try_from(d).map_err(|_| OnnxError::DimTooLarge { spec: spec.to_vec(), dim: d })?
            }
            d => return Err(OnnxError::InvalidDim { spec: spec.to_vec(), dim: d }),
        });
    }
    let numel = data.numel();
    let known = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let mismatch = || OnnxError::Reshape {
        name: data.name.clone(),
        dims: data.dims.clone(),
        numel,
        spec: spec.to_vec(),
    };
    let known = known.ok_or_else(mismatch)?;
    if let Some(k) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(mismatch());
        }
        dims[k] = numel / known;
    } else if known != numel {
        return Err(mismatch());
    }
    Ok(dims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(dims: &[usize]) -> Tensor {
        let n = dims.iter().product::<usize>();
        Tensor {
            name: "x".into(),
            dims: dims.to_vec(),
            values: TensorValues::F32((0..n).map(|v| v as f32).collect()),
        }
    }

    fn shape(v: &[i64]) -> Tensor {
        Tensor { name: "s".into(), dims: vec![v.len()], values: TensorValues::I64(v.to_vec()) }
    }

    #[test]
    fn reshape_with_zero_and_minus_one() {
        let x = data(&[2, 3, 4]);
        assert_eq!(reshape(&x, &shape(&[0, -1]), false).unwrap().dims, vec![2, 12]);
        assert_eq!(reshape(&x, &shape(&[-1, 0, 2]), false).unwrap().dims, vec![4, 3, 2]);
        assert_eq!(reshape(&x, &shape(&[0, 0, 0]), false).unwrap().dims, vec![2, 3, 4]);
        assert_eq!(reshape(&x, &shape(&[24]), false).unwrap().dims, vec![24]);
        let y = reshape(&x, &shape(&[4, 1, -1, 1]), false).unwrap();
        assert_eq!(y.dims, vec![4, 1, 6, 1]);
        assert_eq!(y.values, x.values);
        let empty = data(&[0, 3]);
        assert_eq!(reshape(&empty, &shape(&[3, 0]), true).unwrap().dims, vec![3, 0]);
    }

    #[test]
    fn bad_reshapes_are_errors() {
        let x = data(&[2, 3]);
        for (spec, expected) in [
            (&[-1, -1][..], "more than one -1"),
            (&[4, -1], "cannot reshape 'x' of shape [2, 3]"),
            (&[5], "cannot reshape"),
            (&[0, 0, 0], "0 at position 2"),
            (&[-2, 3], "invalid dimension -2"),
            (&[0, -1], ""),
        ] {
            match reshape(&x, &shape(spec), false) {
                Ok(t) => assert!(expected.is_empty() && t.dims == [2, 3], "{spec:?}"),
                Err(e) => assert!(!expected.is_empty() && e.to_string().contains(expected), "{spec:?}: {e}"),
            }
        }
        let not_i64 = Tensor { name: "s".into(), dims: vec![1], values: TensorValues::F32(vec![6.0]) };
        assert!(reshape(&x, &not_i64, false).unwrap_err().to_string().contains("1-D int64"));
        assert!(reshape(&x, &shape(&[0, -1]), true).unwrap_err().to_string().contains("cannot reshape"));
    }
}
