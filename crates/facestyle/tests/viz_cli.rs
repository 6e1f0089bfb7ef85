//! `facestyle viz` as a user runs it on the committed photos with the real VGG19: the grids,
//! the JSON and the HTML index are written; bad arguments fail with exit 2 and a clear message.

mod common;

use common::{assert_refused, face_models, facestyle, photo};
use facestyle_models::testing::cached_model;

fn photos_dir() -> String {
    let p = photo("Colin_Powell_0001.jpg");
    std::path::Path::new(&p).parent().unwrap().display().to_string()
}

#[test]
fn top_patches_on_real_photos() {
    if cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("viz");
    let photos = photos_dir();
    let args = [
        "--json",
        "viz",
        "top-patches",
        "--images",
        &photos,
        "--layers",
        "conv1_1,conv2_1",
        "--size",
        "96",
        "--units",
        "4",
        "--top",
        "4",
        "--pick",
        "active",
        "--cell",
        "20",
        "-o",
        out.to_str().unwrap(),
    ];
    let r = facestyle(&args);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["images"], 4, "{v}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("top_patches.json")).unwrap()).unwrap();
    let layers = report["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for l in layers {
        let units = l["units"].as_array().unwrap();
        assert_eq!(units.len(), 4);
        // --pick active: units in decreasing mean activation; 4 patches each (one per photo),
        // strongest first.
        let means: Vec<f64> = units.iter().map(|u| u["mean_activation"].as_f64().unwrap()).collect();
        assert!(means.windows(2).all(|w| w[0] >= w[1]), "{means:?}");
        for u in units {
            let vals: Vec<f64> =
                u["patches"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).collect();
            assert_eq!(vals.len(), 4);
            assert!(vals.windows(2).all(|w| w[0] >= w[1]), "{vals:?}");
        }
        let size = l["field"]["size"].as_u64().unwrap();
        assert_eq!(size, if l["layer"] == "conv1_1" { 3 } else { 10 });
        let png = image::open(out.join(l["png"].as_str().unwrap())).unwrap();
        // 4 units -> 2x2 blocks of 2x2 cells of 20 px.
        assert_eq!((png.width(), png.height()), (2 * 41 + 6, 2 * 41 + 6));
    }
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("conv2_1.png") && html.contains("Receptive field 10 x 10"));

    let map = dir.path().join("map.png");
    let c = photo("Colin_Powell_0001.jpg");
    let r = facestyle(&[
        "viz",
        "activations",
        &c,
        "--layer",
        "conv1_1",
        "--size",
        "64",
        "-o",
        map.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    // 64 maps of 64x64 in an 8x8 grid, 2 px apart.
    let m = image::open(&map).unwrap();
    assert_eq!((m.width(), m.height()), (8 * 66 - 2, 8 * 66 - 2));
}

#[test]
fn bad_arguments_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("viz");
    let o = out.to_str().unwrap().to_string();
    let photos = photos_dir();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = empty.to_str().unwrap().to_string();
    let bad = dir.path().join("bad.png");
    std::fs::write(&bad, b"not a png").unwrap();
    let b = bad.to_str().unwrap().to_string();
    fn tp<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["viz", "top-patches", "--images"];
        v.extend_from_slice(extra);
        v
    }
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (tp(&[&photos, "--layers", "conv1_1,pool2", "-o", &o]), "unknown layer 'pool2'"),
        (tp(&[&photos, "--top", "5", "-o", &o]), "the blocks layout needs a square"),
        (tp(&[&photos, "--model", "alexnet", "-o", &o]), "expected vgg19, sface"),
        (tp(&[&photos, "--size", "0", "-o", &o]), "--size: long side 0 px"),
        (tp(&[&photos, "--units", "0", "-o", &o]), "--units: units must be at least 1"),
        (tp(&[&photos, "--cell", "2", "-o", &o]), "--cell: cell 2 px"),
        (tp(&[&photos, "--pick", "best", "-o", &o]), "--pick"),
        (tp(&[&e, "-o", &o]), "no images"),
        (tp(&["/nonexistent/dir", "-o", &o]), "/nonexistent/dir"),
        (vec!["viz", "activations", &b, "--layer", "conv1_1", "-o", &o], "bad.png"),
        (vec!["viz", "activations", &photos, "--layer", "conv1_1", "-o", &o], "photos"),
    ];
    for (args, want) in cases {
        assert_refused(&args, want);
        assert!(!out.exists(), "nothing written for {args:?}");
    }
    // A layout that is not one of the choices is a usage error (exit 1) naming them.
    let r = facestyle(&tp(&[&photos, "--layout", "grid", "-o", &o]));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("'grid'") && err.contains("blocks") && err.contains("strip"), "{err}");
}

#[test]
fn sface_units_on_aligned_faces() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("viz");
    let photos = photos_dir();
    let args = [
        "viz",
        "top-patches",
        "--model",
        "sface",
        "--images",
        &photos,
        "--layers",
        "conv1,pw4",
        "--units",
        "4",
        "--top",
        "4",
        "--cell",
        "16",
        "-o",
        out.to_str().unwrap(),
    ];
    let r = facestyle(&args);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("top_patches.json")).unwrap()).unwrap();
    assert_eq!(report["images"], 4);
    let layers = report["layers"].as_array().unwrap();
    // conv1 3x3; then 3x3 depthwise layers (stride 2 in dw2 and dw4) and 1x1 pointwise ones:
    // 3, 5 (dw1), 7 (dw2, jump 2), 11 (dw3), 15 (dw4, jump 4).
    assert_eq!((layers[1]["layer"].as_str(), layers[1]["field"]["size"].as_u64()), (Some("pw4"), Some(15)));
    assert_eq!(layers[1]["field"]["jump"], 4);
    // Patches are cut from the 112x112 aligned crops.
    for u in layers[1]["units"].as_array().unwrap() {
        for p in u["patches"].as_array().unwrap() {
            let v = &p["visible"];
            assert!(v["x1"].as_i64().unwrap() <= 112 && v["y1"].as_i64().unwrap() <= 112, "{p}");
        }
    }
}
