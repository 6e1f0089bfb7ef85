//! The style matrix (Gram matrix) of a layer's activations: `G_kk' = sum_ij a_ijk a_ijk'`,
//! how strongly channels k and k' fire together, wherever they fire.

use burn::prelude::*;

/// `[1, C, H, W]` activations -> `[C, C]` Gram matrix `F F^T` with `F = [C, H*W]`.
pub fn gram(a: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = a.dims();
    assert_eq!(n, 1, "gram: one image at a time");
    let f = a.reshape([c, h * w]);
    f.clone().matmul(f.transpose())
}

/// The Gram matrix averaged over positions, `F F^T / (H W)`: the same for a picture and for
/// the picture tiled, so pictures of different sizes and shapes can be compared by it.
pub fn mean_gram(a: Tensor<4>) -> Tensor<2> {
    let [_, _, h, w] = a.dims();
    gram(a) / (h * w) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use facestyle_nn::pretrained::values;

    #[test]
    fn gram_of_a_tiny_map_by_hand() {
        let device = Device::flex();
        // C=2, H=1, W=3: channel 0 = [1,2,3], channel 1 = [0,1,-1].
        let a = Tensor::<4>::from_data(
            TensorData::new(vec![1.0, 2.0, 3.0, 0.0, 1.0, -1.0], [1, 2, 1, 3]),
            &device,
        );
        assert_eq!(values(gram(a.clone())), vec![14.0, -1.0, -1.0, 2.0]);
        assert_eq!(values(mean_gram(a)), vec![14.0 / 3.0, -1.0 / 3.0, -1.0 / 3.0, 2.0 / 3.0]);
    }
}
