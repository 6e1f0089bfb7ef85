//! The common output of every weight reader: a named f32 tensor.

/// One weight tensor, dequantized to f32, in the layout of the file it came from
/// (ONNX: OIHW, Keras h5: HWIO, tfjs: HWIO).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl WeightTensor {
    pub fn new(name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) -> Self {
        let t = Self { name: name.into(), shape, data };
        debug_assert_eq!(t.shape.iter().product::<usize>(), t.data.len());
        t
    }

    pub fn numel(&self) -> usize {
        self.data.len()
    }
}
