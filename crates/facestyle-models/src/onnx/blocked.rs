//! The stored form of a block-quantized 2-D weight, read before folding: int8 values with one
//! int8 zero point and one f32 scale per row and block of columns (a `DequantizeLinear` with
//! `axis = 1` and `block_size > 0`), so that an int8 kernel can use the weights as the file
//! keeps them (`w = (q - zero_point) * scale`, exactly what folding computes).

use super::model::OnnxModel;
use super::tensor::TensorValues;

/// A 2-D int8 weight quantized in blocks along its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockQuantized {
    pub rows: usize,
    pub cols: usize,
    /// Columns per block (the last block may be shorter).
    pub block: usize,
    /// `[rows, cols]`.
    pub values: Vec<i8>,
    /// `[rows, ceil(cols / block)]`.
    pub zero_points: Vec<i8>,
    /// `[rows, ceil(cols / block)]`.
    pub scales: Vec<f32>,
}

impl OnnxModel {
    /// The stored form of tensor `name` when a `DequantizeLinear` node of this (unfolded)
    /// model makes it from int8 initializers, in blocks along the columns of a 2-D weight;
    /// `None` for any other form (or once the model is folded and the node is gone).
    pub fn block_quantized(&self, name: &str) -> Option<BlockQuantized> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.op_type == "DequantizeLinear" && n.outputs.first().is_some_and(|o| o == name))?;
        let input = |k: usize| node.inputs.get(k).and_then(|i| self.initializers.get(i));
        let (x, scale, zero) = (input(0)?, input(1)?, input(2)?);
        let axis = node.attr("axis").and_then(|a| a.as_int()).unwrap_or(1);
        let block = node.attr("block_size").and_then(|a| a.as_int()).unwrap_or(0);
        let [rows, cols] = x.dims[..] else { return None };
        if !(axis == 1 || axis == -1) || block <= 0 {
            return None;
        }
        let block = block as usize;
        let blocks = [rows, cols.div_ceil(block)];
        let (TensorValues::I8(values), TensorValues::I8(zero_points), TensorValues::F32(scales)) =
            (&x.values, &zero.values, &scale.values)
        else {
            return None;
        };
        if scale.dims != blocks || zero.dims != blocks {
            return None;
        }
        Some(BlockQuantized {
            rows,
            cols,
            block,
            values: values.clone(),
            zero_points: zero_points.clone(),
            scales: scales.clone(),
        })
    }
}
