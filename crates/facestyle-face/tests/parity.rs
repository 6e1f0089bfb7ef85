//! Parity of the native burn YuNet and SFace with the reference runtimes (OpenCV DNN for
//! YuNet, onnxruntime for SFace), on the golden outputs written by `tools/face_golden.py`.

mod common;

use facestyle_face::align::align_face;
use facestyle_face::metric::dot;
use facestyle_face::photo::load_rgb;
use serde_json::Value;

fn golden() -> Value {
    let text = std::fs::read_to_string(common::fixture("face_golden.json")).expect("golden file");
    serde_json::from_str(&text).expect("golden json")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
}

#[test]
fn yunet_raw_heads_match_opencv() {
    let Some(engine) = common::engine() else { return };
    for img in golden()["images"].as_array().unwrap() {
        let file = img["file"].as_str().unwrap();
        let photo = load_rgb(&common::fixture(&format!("photos/{file}"))).unwrap();
        let input = facestyle_face::detect::input_tensor(&photo, engine.device());
        let levels = engine.detector.net.forward(input);
        // PNG pixels are identical in both runtimes; JPEG decoders (libjpeg in OpenCV, zune-jpeg
        // here) differ by a grey level here and there, which moves the heads slightly.
        let tol = if file.ends_with(".png") { 2e-3 } else { 3e-2 };
        for (li, stride) in [8, 16, 32].into_iter().enumerate() {
            let l = &levels[li];
            for (head, ours) in [("cls", &l.cls), ("obj", &l.obj), ("bbox", &l.bbox), ("kps", &l.kps)] {
                let want = floats(&img["heads_first64"][format!("{head}_{stride}")]);
                for (k, (w, o)) in want.iter().zip(ours.iter()).enumerate() {
                    assert!(
                        (w - o).abs() < tol * w.abs().max(1.0),
                        "{file} {head}_{stride}[{k}]: ours {o}, OpenCV {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn detections_match_opencv_within_one_pixel() {
    let Some(engine) = common::engine() else { return };
    for img in golden()["images"].as_array().unwrap() {
        let file = img["file"].as_str().unwrap();
        let photo = load_rgb(&common::fixture(&format!("photos/{file}"))).unwrap();
        let ours = engine.detect(&photo);
        let want = img["faces"].as_array().unwrap();
        assert_eq!(ours.len(), want.len(), "{file}: face count");
        for w in want {
            let bbox = floats(&w["bbox"]);
            // Match by box centre.
            let f = ours
                .iter()
                .min_by(|a, b| {
                    let d = |f: &&facestyle_face::detect::Face| {
                        (f.bbox[0] - bbox[0]).abs() + (f.bbox[1] - bbox[1]).abs()
                    };
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            for k in 0..4 {
                assert!((f.bbox[k] - bbox[k]).abs() < 1.0, "{file}: bbox {:?} vs OpenCV {bbox:?}", f.bbox);
            }
            let lm = w["landmarks"].as_array().unwrap();
            for (p, q) in f.landmarks.iter().zip(lm) {
                let q = floats(q);
                assert!(
                    (p[0] - q[0]).abs() < 1.0 && (p[1] - q[1]).abs() < 1.0,
                    "{file}: landmark {p:?} vs {q:?}"
                );
            }
            let s = w["score"].as_f64().unwrap() as f32;
            assert!((f.score - s).abs() < 2e-3, "{file}: score {} vs {s}", f.score);
        }
    }
}

#[test]
fn sface_embeddings_match_onnxruntime_on_the_same_crops() {
    let Some(engine) = common::engine() else { return };
    for img in golden()["images"].as_array().unwrap() {
        for face in img["faces"].as_array().unwrap() {
            let crop =
                load_rgb(&common::fixture(&format!("crops/{}", face["crop"].as_str().unwrap()))).unwrap();
            let ours = engine.embed_crops(&[crop]).remove(0);
            let want = floats(&face["embedding"]);
            let c = cosine(&ours, &want);
            assert!(c > 0.9999, "{}: cosine {c}", face["crop"]);
        }
    }
}

#[test]
fn our_alignment_gives_the_reference_embedding() {
    // Our detector + our warp vs OpenCV's alignCrop + onnxruntime: the crops differ only by
    // landmark rounding and bilinear details, so the embeddings must stay very close.
    let Some(engine) = common::engine() else { return };
    for img in golden()["images"].as_array().unwrap() {
        let file = img["file"].as_str().unwrap();
        let photo = load_rgb(&common::fixture(&format!("photos/{file}"))).unwrap();
        for face in img["faces"].as_array().unwrap() {
            let lm = face["landmarks"].as_array().unwrap();
            let pts: [[f32; 2]; 5] = std::array::from_fn(|i| {
                let p = floats(&lm[i]);
                [p[0], p[1]]
            });
            let ours = engine.embed_crops(&[align_face(&photo, &pts)]).remove(0);
            let c = cosine(&ours, &floats(&face["embedding"]));
            assert!(c > 0.995, "{file}: cosine {c}");
        }
    }
}

#[test]
fn batching_does_not_change_embeddings() {
    let Some(engine) = common::engine() else { return };
    let a = load_rgb(&common::fixture("crops/Abdullah_Gul_0001_0.png")).unwrap();
    let b = load_rgb(&common::fixture("crops/Colin_Powell_0001_0.png")).unwrap();
    let one = engine.embed_crops(std::slice::from_ref(&a)).remove(0);
    let both = engine.embed_crops(&[b, a]);
    assert!(cosine(&one, &both[1]) > 0.99999);
    assert!((dot(&one, &one) - 1.0).abs() < 1e-5, "embeddings are unit length");
}

#[test]
fn yunet_inference_kernels_equal_burns_layers_on_an_odd_sized_image() {
    use burn::module::Module;
    let Some(engine) = common::engine() else { return };
    let photo = load_rgb(&common::fixture("photos/Abdullah_Gul_0008.png")).unwrap();
    let crop = image::imageops::crop_imm(&photo, 3, 5, 201, 150).to_image(); // padded to 224 x 160
    let input = facestyle_face::detect::input_tensor;
    let fast = engine.detector.net.forward(input(&crop, engine.device()));
    // Under autodiff every layer is burn's own (the inference kernels take plain Flex only).
    let autodiff = burn::prelude::Device::flex().autodiff();
    let reference = engine.detector.net.clone().to_device(&autodiff).forward(input(&crop, &autodiff));
    for (a, b) in fast.iter().zip(&reference) {
        assert_eq!((a.rows, a.cols), (b.rows, b.cols));
        let pairs =
            a.bbox.iter().zip(&b.bbox).chain(a.cls.iter().zip(&b.cls)).chain(a.kps.iter().zip(&b.kps));
        for (x, y) in pairs {
            assert!((x - y).abs() < 1e-3 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }
}

/// Scales the weights of the last layer (the only `[50176, 128]` parameter).
struct NudgeLastLayer;

impl burn::module::ModuleMapper for NudgeLastLayer {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<burn::Tensor<D>>,
    ) -> burn::module::Param<burn::Tensor<D>> {
        if param.dims()[..] == [50176, 128] { param.map(|t| t * 1.001) } else { param }
    }
}

#[test]
fn sface_runs_the_files_int8_last_layer_only_while_its_weights_are_as_loaded() {
    use burn::module::Module;
    let Some(engine) = common::engine() else { return };
    let sface = engine.embedder().sface().expect("the pretrained SFace");
    let plan = sface.plan();
    assert!(plan.int8_fc(), "the model file stores the last layer as int8 blocks");
    let crop = load_rgb(&common::fixture("crops/Abdullah_Gul_0001_0.png")).unwrap();
    let chw: Vec<f32> = (0..3).flat_map(|c| crop.pixels().map(move |p| f32::from(p[c]))).collect();
    let x =
        burn::Tensor::<4>::from_data(burn::tensor::TensorData::new(chw, [1, 3, 112, 112]), engine.device());
    let values = |t: burn::Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    let (int8, f32) = (values(sface.forward_planned(x.clone(), Some(&plan))), values(sface.forward(x)));
    assert!(cosine(&int8, &f32) > 0.999999, "cosine {}", cosine(&int8, &f32));
    // Other weights in that layer (fine-tuning, a loaded record): the f32 layer runs.
    let nudged = sface.clone().map(&mut NudgeLastLayer);
    assert!(!nudged.plan().int8_fc(), "a plan of changed weights must not use the file's int8 copy");
}
