//! A human-readable description of a model, for `facestyle models inspect`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::OnnxModel;

impl OnnxModel {
    /// Operator counts, by op type.
    pub fn op_counts(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for n in &self.nodes {
            *counts.entry(n.op_type.as_str()).or_insert(0) += 1;
        }
        counts
    }

    /// A multi-line summary: format versions, inputs/outputs, op counts, then every float
    /// weight with its shape and the other initializers with their type and shape.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let opsets: Vec<String> = self
            .opsets
            .iter()
            .map(|o| format!("{} {}", if o.domain.is_empty() { "ai.onnx" } else { &o.domain }, o.version))
            .collect();
        let _ = writeln!(s, "{}", self.path.display());
        let _ = writeln!(
            s,
            "ir_version {}, opset {}, producer '{}'",
            self.ir_version,
            opsets.join(", "),
            self.producer_name
        );
        let _ = writeln!(s, "inputs: {}", self.runtime_inputs().join(", "));
        let _ = writeln!(s, "outputs: {}", self.graph_outputs.join(", "));
        let ops: Vec<String> = self.op_counts().iter().map(|(op, n)| format!("{op} {n}")).collect();
        let _ = writeln!(s, "nodes: {} ({})", self.nodes.len(), ops.join(", "));
        let weights: Vec<_> = self.initializers.values().filter(|t| t.as_f32().is_some()).collect();
        let values: usize = weights.iter().map(|t| t.numel()).sum();
        let _ = writeln!(s, "weights: {} float tensors, {values} values", weights.len());
        for t in &weights {
            let _ = writeln!(s, "  {} {:?}", t.name, t.dims);
        }
        let others: Vec<_> = self.initializers.values().filter(|t| t.as_f32().is_none()).collect();
        if !others.is_empty() {
            let _ = writeln!(s, "other initializers: {}", others.len());
            for t in others {
                let _ = writeln!(s, "  {} {} {:?}", t.name, t.values.type_name(), t.dims);
            }
        }
        s
    }
}
