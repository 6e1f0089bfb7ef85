//! The VGG19 Keras weights file read without an HDF5 library.
//!
//! `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5` stores its 32 datasets (16 kernels in
//! HWIO layout, 16 biases) contiguously, uncompressed, as little-endian f32. Their offsets were
//! read once with h5py (`tools/vgg19_h5_offsets.py`) and are pinned below; they are only trusted
//! after the file's md5 matches the published digest, so a different file is refused, never
//! misread.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use md5::Md5;

use crate::cache::hex_digest;
use crate::error::{ModelError, Result};
use crate::tensor::WeightTensor;

/// The HDF5 superblock signature that starts every such file.
pub const HDF5_SIGNATURE: [u8; 8] = [0x89, b'H', b'D', b'F', b'\r', b'\n', 0x1a, b'\n'];

/// Published md5 of the Keras VGG19 no-top weights.
pub const VGG19_MD5: &str = "253f8cb515780f3b799900260a226db6";

/// One contiguous f32 dataset: its HDF5 path, byte offset and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub name: &'static str,
    pub offset: u64,
    pub shape: &'static [usize],
}

macro_rules! vgg_layer {
    ($layer:literal, $w_off:expr, $b_off:expr, $cin:expr, $cout:expr) => {
        [
            Dataset {
                name: concat!($layer, "/", $layer, "_W_1:0"),
                offset: $w_off,
                shape: &[3, 3, $cin, $cout],
            },
            Dataset { name: concat!($layer, "/", $layer, "_b_1:0"), offset: $b_off, shape: &[$cout] },
        ]
    };
}

/// The 16 VGG19 conv layers, kernel then bias, in network order.
pub const VGG19_DATASETS: [[Dataset; 2]; 16] = [
    vgg_layer!("block1_conv1", 3792, 12752, 3, 64),
    vgg_layer!("block1_conv2", 13008, 160464, 64, 64),
    vgg_layer!("block2_conv1", 163144, 460104, 64, 128),
    vgg_layer!("block2_conv2", 460616, 1050440, 128, 128),
    vgg_layer!("block3_conv1", 1053160, 2234856, 128, 256),
    vgg_layer!("block3_conv2", 2235880, 4597224, 256, 256),
    vgg_layer!("block3_conv3", 4598248, 6957544, 256, 256),
    vgg_layer!("block3_conv4", 6960616, 9319912, 256, 256),
    vgg_layer!("block4_conv1", 9324480, 14045120, 256, 512),
    vgg_layer!("block4_conv2", 14047168, 23484352, 512, 512),
    vgg_layer!("block4_conv3", 23488448, 32925632, 512, 512),
    vgg_layer!("block4_conv4", 32929728, 42366912, 512, 512),
    vgg_layer!("block5_conv1", 42371008, 51810240, 512, 512),
    vgg_layer!("block5_conv2", 51812288, 61249472, 512, 512),
    vgg_layer!("block5_conv3", 61253568, 70690752, 512, 512),
    vgg_layer!("block5_conv4", 70694848, 80132032, 512, 512),
];

/// Reads the VGG19 weights: 32 tensors, `blockB_convC/blockB_convC_W_1:0` kernels `[3,3,in,out]`
/// (HWIO) and `..._b_1:0` biases.
pub fn load_vgg19(path: &Path) -> Result<Vec<WeightTensor>> {
    let table: Vec<Dataset> = VGG19_DATASETS.iter().flatten().copied().collect();
    read_contiguous_f32(path, VGG19_MD5, &table)
}

/// Reads contiguous little-endian f32 datasets at pinned offsets, after checking the HDF5
/// signature, the md5 of the whole file, and that every dataset lies inside the file.
pub fn read_contiguous_f32(path: &Path, expected_md5: &str, table: &[Dataset]) -> Result<Vec<WeightTensor>> {
    let mut file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let len = file.metadata().map_err(|e| ModelError::io(path, e))?.len();
    let mut signature = [0u8; 8];
    if len < 8 || file.read_exact(&mut signature).is_err() || signature != HDF5_SIGNATURE {
        return Err(ModelError::invalid(path, "not an HDF5 file (missing the \\x89HDF signature)"));
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| ModelError::io(path, e))?;
    let digest = hex_digest::<Md5>(&mut file, path)?;
    if digest != expected_md5 {
        return Err(ModelError::invalid(
            path,
            format!(
                "md5 {digest} does not match the expected weights file ({expected_md5}); refusing to read it by offset"
            ),
        ));
    }
    table
        .iter()
        .map(|d| {
            let count: usize = d.shape.iter().product();
            let end = d.offset + 4 * count as u64;
            if end > len {
                return Err(ModelError::invalid(
                    path,
                    format!("dataset {} ends at byte {end}, past the end of the file ({len} bytes)", d.name),
                ));
            }
            let mut bytes = vec![0u8; 4 * count];
            file.seek(SeekFrom::Start(d.offset)).map_err(|e| ModelError::io(path, e))?;
            file.read_exact(&mut bytes).map_err(|e| ModelError::io(path, e))?;
            let data: Vec<f32> =
                bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(ModelError::invalid(
                    path,
                    format!("dataset {}: non-finite value at {i}", d.name),
                ));
            }
            Ok(WeightTensor::new(d.name, d.shape.to_vec(), data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;
    use std::io::Write;

    /// A fake HDF5-signed file with two datasets at chosen offsets.
    fn fake_file(dir: &Path) -> (std::path::PathBuf, String, Vec<Dataset>) {
        let mut bytes = HDF5_SIGNATURE.to_vec();
        bytes.resize(64, 0);
        let a: Vec<f32> = (0..2 * 3).map(|i| i as f32 * 0.5 - 1.0).collect();
        bytes.extend(a.iter().flat_map(|v| v.to_le_bytes()));
        bytes.resize(100, 7); // a gap of non-f32 bytes between datasets
        let b = [3.25f32, -7.5];
        bytes.extend(b.iter().flat_map(|v| v.to_le_bytes()));
        let path = dir.join("w.h5");
        File::create(&path).unwrap().write_all(&bytes).unwrap();
        let md5 = hex::encode(Md5::digest(&bytes));
        let table = vec![
            Dataset { name: "a", offset: 64, shape: &[2, 3] },
            Dataset { name: "b", offset: 100, shape: &[2] },
        ];
        (path, md5, table)
    }

    #[test]
    fn reads_datasets_at_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let (path, md5, table) = fake_file(dir.path());
        let w = read_contiguous_f32(&path, &md5, &table).unwrap();
        assert_eq!(w[0].shape, vec![2, 3]);
        assert_eq!(w[0].data, vec![-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]);
        assert_eq!(w[1].data, vec![3.25, -7.5]);
    }

    #[test]
    fn refuses_wrong_md5_truncation_and_non_hdf5() {
        let dir = tempfile::tempdir().unwrap();
        let (path, md5, table) = fake_file(dir.path());
        let err = read_contiguous_f32(&path, "0123", &table).unwrap_err().to_string();
        assert!(err.contains("w.h5") && err.contains("md5"), "{err}");

        let bytes = std::fs::read(&path).unwrap();
        let short = dir.path().join("short.h5");
        std::fs::write(&short, &bytes[..104]).unwrap();
        let short_md5 = hex::encode(Md5::digest(&bytes[..104]));
        let err = read_contiguous_f32(&short, &short_md5, &table).unwrap_err().to_string();
        assert!(err.contains("short.h5") && err.contains("past the end"), "{err}");

        let text = dir.path().join("notes.h5");
        std::fs::write(&text, "this is not a weights file").unwrap();
        let err = read_contiguous_f32(&text, &md5, &table).unwrap_err().to_string();
        assert!(err.contains("notes.h5") && err.contains("not an HDF5 file"), "{err}");

        let err = read_contiguous_f32(&dir.path().join("none.h5"), &md5, &table).unwrap_err().to_string();
        assert!(err.contains("none.h5"), "{err}");
    }

    #[test]
    fn vgg19_table_is_consistent() {
        let all: Vec<Dataset> = VGG19_DATASETS.iter().flatten().copied().collect();
        assert_eq!(all.len(), 32);
        // Datasets never overlap and each kernel's input channels are the previous output.
        for w in all.windows(2) {
            let size = 4 * w[0].shape.iter().product::<usize>() as u64;
            assert!(w[0].offset + size <= w[1].offset, "{} overlaps {}", w[0].name, w[1].name);
        }
        for pair in VGG19_DATASETS.windows(2) {
            assert_eq!(pair[0][0].shape[3], pair[1][0].shape[2]);
        }
        let last = all[31];
        assert_eq!(last.offset + 4 * 512, 80_134_080);
    }
}
