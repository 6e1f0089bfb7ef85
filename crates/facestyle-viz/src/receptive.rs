//! Receptive-field arithmetic: for each layer, the size of the input window one unit sees, the
//! step between neighbouring units in input pixels (the product of the strides so far) and the
//! centre of the first unit's window. Through a layer of kernel k, stride s and padding p:
//!
//! ```text
//! size'   = size + (k - 1) * jump
//! jump'   = jump * s
//! centre' = centre + ((k - 1) / 2 - p) * jump
//! ```
//!
//! starting from `size = 1, jump = 1, centre = 0` (a pixel sees itself). The window of the unit
//! at `(y, x)` is centred on `centre + y * jump` and spans `size` pixels.

use serde::Serialize;

/// A layer that moves the receptive field: convolution or pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    pub const fn new(kernel: usize, stride: usize, padding: usize) -> Self {
        Window { kernel, stride, padding }
    }
}

/// Receptive field of the units of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Field {
    /// Window side in input pixels.
    pub size: usize,
    /// Input pixels between neighbouring units.
    pub jump: usize,
    /// Centre of unit 0's window, in input pixel coordinates (may be fractional).
    pub centre: f64,
}

/// A box in image pixels: `x0..x1`, `y0..y1` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PixelBox {
    pub x0: i64,
    pub y0: i64,
    pub x1: i64,
    pub y1: i64,
}

impl PixelBox {
    pub fn width(&self) -> i64 {
        self.x1 - self.x0
    }
    pub fn height(&self) -> i64 {
        self.y1 - self.y0
    }
    /// The part inside a `w x h` image.
    pub fn clip(&self, w: u32, h: u32) -> PixelBox {
        PixelBox {
            x0: self.x0.clamp(0, w as i64),
            y0: self.y0.clamp(0, h as i64),
            x1: self.x1.clamp(0, w as i64),
            y1: self.y1.clamp(0, h as i64),
        }
    }
}

impl Field {
    pub const PIXEL: Field = Field { size: 1, jump: 1, centre: 0.0 };

    /// The field after one more layer.
    pub fn then(self, w: Window) -> Field {
        Field {
            size: self.size + (w.kernel - 1) * self.jump,
            jump: self.jump * w.stride,
            centre: self.centre + ((w.kernel as f64 - 1.0) / 2.0 - w.padding as f64) * self.jump as f64,
        }
    }

    /// The full (unclipped) window of the unit at row `y`, column `x`.
    pub fn window(&self, y: usize, x: usize) -> PixelBox {
        let half = (self.size as f64 - 1.0) / 2.0;
        let lo = |i: usize| (self.centre + (i * self.jump) as f64 - half).round() as i64;
        let (x0, y0) = (lo(x), lo(y));
        PixelBox { x0, y0, x1: x0 + self.size as i64, y1: y0 + self.size as i64 }
    }
}

/// The field after each of `layers` in turn.
pub fn fields(layers: &[Window]) -> Vec<Field> {
    layers
        .iter()
        .scan(Field::PIXEL, |f, w| {
            *f = f.then(*w);
            Some(*f)
        })
        .collect()
}

/// VGG19's 16 convolutions (3x3, stride 1, padding 1), with the 2x2 stride-2 max pooling that
/// precedes blocks 2-5 folded into the field of the next convolution.
pub fn vgg19_fields() -> Vec<Field> {
    let conv = Window::new(3, 1, 1);
    let pool = Window::new(2, 2, 0);
    let mut f = Field::PIXEL;
    let mut out = Vec::with_capacity(16);
    for (block, convs) in [2, 2, 4, 4, 4].into_iter().enumerate() {
        if block > 0 {
            f = f.then(pool);
        }
        for _ in 0..convs {
            f = f.then(conv);
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes and jumps worked out by hand: each 3x3 conv adds 2 * jump, each 2x2 pool adds
    /// one jump and doubles it (conv1_1 3, conv1_2 5; pool -> 6; conv2_1 10 ...).
    #[test]
    fn vgg19_fields_match_the_hand_computed_values() {
        let sizes = [3, 5, 10, 14, 24, 32, 40, 48, 68, 84, 100, 116, 156, 188, 220, 252];
        let jumps = [1, 1, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 16, 16, 16, 16];
        // Pool k=2, p=0 moves the centre by half a jump: 0.5, then 0.5 + 1 = 1.5, 3.5, 7.5.
        let centres = [0.0, 0.0, 0.5, 0.5, 1.5, 1.5, 1.5, 1.5, 3.5, 3.5, 3.5, 3.5, 7.5, 7.5, 7.5, 7.5];
        let f = vgg19_fields();
        assert_eq!(f.iter().map(|f| f.size).collect::<Vec<_>>(), sizes);
        assert_eq!(f.iter().map(|f| f.jump).collect::<Vec<_>>(), jumps);
        assert_eq!(f.iter().map(|f| f.centre).collect::<Vec<_>>(), centres);
    }

    #[test]
    fn windows_of_units() {
        let f = vgg19_fields();
        // conv1_1 unit (5, 7): the 3x3 block centred on pixel (5, 7).
        assert_eq!(f[0].window(5, 7), PixelBox { x0: 6, y0: 4, x1: 9, y1: 7 });
        // conv2_1 (after pool1) unit (3, 3): pooled cell 3 covers pixels 6-7 of conv1_2,
        // centre 6.5; size 10 -> pixels 2..12.
        assert_eq!(f[2].window(3, 3), PixelBox { x0: 2, y0: 2, x1: 12, y1: 12 });
        // conv5_1 unit (0, 0) hangs over the top-left border and is clipped.
        let w = f[12].window(0, 0);
        assert_eq!((w.x0, w.width()), (-70, 156));
        assert_eq!(w.clip(224, 224), PixelBox { x0: 0, y0: 0, x1: 86, y1: 86 });
        // A stride-2 conv without padding: 3x3 s2 p0 then 3x3 s1 p0.
        let g = fields(&[Window::new(3, 2, 0), Window::new(3, 1, 0)]);
        assert_eq!((g[1].size, g[1].jump, g[1].centre), (7, 2, 3.0));
    }
}
