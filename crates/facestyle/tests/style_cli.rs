//! `facestyle style` as a user runs it: bad arguments fail before any heavy work; a tiny real
//! transfer on VGG19 writes the picture and lowers the cost.

mod common;

use common::{assert_refused, facestyle, photo};

use facestyle_models::testing::cached_model;
use facestyle_style::StyleConfig;
use facestyle_style::transfer::GATYS;

/// Runs a small transfer with `extra` arguments; returns the JSON report and the output path.
fn tiny_transfer(extra: &[&str]) -> Option<(serde_json::Value, Vec<f64>, tempfile::TempDir)> {
    cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")?;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let (c, s) = (photo("Colin_Powell_0001.jpg"), photo("Abdullah_Gul_0008.png"));
    let mut args = vec!["--json", "style", &c, &s, "-o", out.to_str().unwrap()];
    args.extend(extra);
    let r = facestyle(&args);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let losses = v["losses"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert!(out.exists());
    Some((v, losses, dir))
}

#[test]
fn bad_arguments_are_refused_before_any_work() {
    let (c, s) = (photo("Colin_Powell_0001.jpg"), photo("Abdullah_Gul_0008.png"));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let o = out.to_str().unwrap();
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"not an image").unwrap();
    let b = bad.to_str().unwrap();
    let cases: [(Vec<&str>, &str); 15] = [
        (vec![&c, &s, "-o", o, "--coarse", "4,x"], "--coarse: 'x'"),
        (vec![&c, &s, "-o", o, "--size", "12"], "Colin_Powell_0001.jpg: 250x250 scaled"),
        (vec![&c, &s, "-o", o, "--style-scale", "0.05"], "Abdullah_Gul_0008.png"),
        (vec![&c, &s, "-o", o, "--style-scale=-1"], "--style-scale: style_scale must be a positive"),
        (vec![&c, &s, "-o", o, "--size", "0"], "--size: long side 0 px: expected 1 to 4096"),
        (vec![&c, &s, "-o", o, "--size", "5000"], "expected 1 to 4096 pixels (add --force"),
        (vec![&c, &s, "-o", o, "--content-layer", "conv9_9"], "unknown layer 'conv9_9'"),
        (vec![&c, &s, "-o", o, "--style-layers", "conv1_1:0.5,pool3:1"], "unknown layer 'pool3'"),
        (vec![&c, &s, "-o", o, "--beta=-1"], "--beta: beta must be a non-negative"),
        (vec![&c, &s, "-o", o, "--lr", "0"], "--lr: lr must be a positive"),
        (vec![&c, &s, "-o", o, "--style-layers", "conv1_1:-2"], "lambda of conv1_1 must be a non-negative"),
        (vec![&c, &s, "-o", o, "--style-blend", "0.5,0.5"], "--style-blend: 2 blend weights for 1 style"),
        (vec![&c, &s, "-o", o, "--init", "zeros"], "--init: init 'zeros'"),
        (vec![&c, &s, "-o", o, "--init", "blend:2"], "--init"),
        (vec![b, &s, "-o", o], "bad.jpg"),
    ];
    for (args, want) in cases {
        let mut full = vec!["style"];
        full.extend(args.iter().copied());
        assert_refused(&full, want);
        assert!(!out.exists(), "nothing written");
    }
    // A preset, optimiser or pooling that is not one of the choices is a usage error (exit 1)
    // that lists them.
    let choices = [
        ("--method", "neural", "fast, gatys"),
        ("--optimizer", "sgd", "adam, lbfgs"),
        ("--pooling", "min", "max, avg"),
    ];
    for (flag, value, listed) in choices {
        let r = facestyle(&["style", &c, &s, "-o", o, flag, value]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{flag} {value}: {err}");
        assert!(err.contains(&format!("'{value}'")) && err.contains(listed), "{flag} {value}: {err}");
        assert!(!out.exists(), "nothing written");
    }
}

#[test]
fn a_tiny_transfer_writes_the_picture_and_lowers_the_cost() {
    let args = [
        "--size",
        "48",
        "--iterations",
        "6",
        "--optimizer",
        "adam",
        "--init",
        "content",
        "--save-every",
        "3",
        "--coarse",
        "none",
    ];
    let Some((v, losses, dir)) = tiny_transfer(&args) else { return };
    assert_eq!(losses.len(), 6);
    assert!(losses[5] < losses[0], "{losses:?}");
    assert!(v["J_content"].as_f64().unwrap() >= 0.0 && v["J_style"].as_f64().unwrap() > 0.0);
    let img = image::open(dir.path().join("o.png")).unwrap();
    assert_eq!((img.width(), img.height()), (48, 48));
    assert!(dir.path().join("o.0003.png").exists(), "checkpoint of step 3");
    // The quality figures: from the content image, SSIM stays high and the style ratio is
    // between 0 and about 1.
    let (ssim, ratio) = (v["ssim"].as_f64().unwrap(), v["style_ratio"].as_f64().unwrap());
    assert!(ssim > 0.3 && ssim <= 1.0, "ssim {ssim}");
    assert!(ratio > 0.0 && ratio < 1.5, "style ratio {ratio}");
    assert_eq!(v["evaluations"].as_f64(), Some(6.0));
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 10.0);
}

#[test]
fn coarse_to_fine_counts_evaluations_at_the_output_size_and_prints_the_quality() {
    if cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let (c, s) = (photo("Colin_Powell_0001.jpg"), photo("Abdullah_Gul_0008.png"));
    let args = [
        "style",
        &c,
        &s,
        "-o",
        out.to_str().unwrap(),
        "--size",
        "64",
        "--coarse",
        "4",
        "--iterations",
        "2",
        "--optimizer",
        "adam",
    ];
    let r = facestyle(&args);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let text = String::from_utf8_lossy(&r.stdout);
    // 4 evaluations at 32x32 count 1, then 2 at 64x64.
    assert!(text.contains("3.0 evaluations (at 64 px)"), "{text}");
    assert!(text.contains("quality: SSIM ") && text.contains("style ratio "), "{text}");
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
}

#[test]
fn lbfgs_lowers_the_cost_too() {
    let Some((_, losses, _dir)) =
        tiny_transfer(&["--size", "40", "--iterations", "8", "--optimizer", "lbfgs", "--coarse", "none"])
    else {
        return;
    };
    assert!(losses.len() >= 2 && losses.len() <= 9, "{losses:?}");
    let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(best < 0.5 * losses[0], "{losses:?}");
}

#[test]
fn lbfgs_gains_from_its_first_evaluations() {
    // From the content image, the first step must already be of a useful length: a step of
    // `1 / |g|_1` on raw pixels would leave J unchanged for the first few evaluations while the
    // line search grows it.
    let Some((_, losses, _dir)) = tiny_transfer(&["--size", "64", "--iterations", "4", "--coarse", "none"])
    else {
        return;
    };
    assert_eq!(losses.len(), 4, "{losses:?}");
    let best = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(best < 0.8 * losses[0], "J after 4 evaluations: {losses:?}");
}

#[test]
fn preserve_colors_keeps_the_content_chroma() {
    let args =
        ["--size", "48", "--iterations", "4", "--optimizer", "adam", "--preserve-colors", "--coarse", "none"];
    let Some((_, losses, dir)) = tiny_transfer(&args) else { return };
    assert_eq!(losses.len(), 4);
    let out = image::open(dir.path().join("o.png")).unwrap().to_rgb8();
    let content = image::open(photo("Colin_Powell_0001.jpg")).unwrap().to_rgb8();
    let content = image::imageops::resize(&content, 48, 48, image::imageops::FilterType::Triangle);
    let chroma = |p: &image::Rgb<u8>| {
        let [r, g, b] = p.0.map(f32::from);
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        (r - y, b - y)
    };
    let (mut same, mut moved) = (0, 0);
    for (o, c) in out.pixels().zip(content.pixels()) {
        let ((ro, bo), (rc, bc)) = (chroma(o), chroma(c));
        if (ro - rc).abs() <= 1.5 && (bo - bc).abs() <= 1.5 {
            same += 1;
        }
        let yo = 0.299 * o.0[0] as f32 + 0.587 * o.0[1] as f32 + 0.114 * o.0[2] as f32;
        let yc = 0.299 * c.0[0] as f32 + 0.587 * c.0[1] as f32 + 0.114 * c.0[2] as f32;
        if (yo - yc).abs() > 1.0 {
            moved += 1;
        }
    }
    let n = (out.width() * out.height()) as usize;
    assert!(same * 100 >= n * 95, "content chroma kept on {same} of {n} pixels");
    assert!(moved * 10 >= n, "the luminance did change ({moved} of {n} pixels)");
}

#[test]
fn the_default_is_the_fast_preset_and_gatys_restores_the_course_settings() {
    // At 24 px the coarse levels (6 and 12 px) are below VGG19's minimum and are skipped.
    let Some((v, losses, _dir)) = tiny_transfer(&["--size", "24", "--iterations", "2"]) else { return };
    let d = StyleConfig::default();
    assert_eq!(v["coarse"], serde_json::json!(d.coarse.levels(24)));
    assert_eq!(
        (v["method"].as_str(), v["optimizer"].as_str(), v["init"].as_str()),
        (Some("fast"), Some(d.method.name()), Some(d.init.to_string().as_str()))
    );
    assert_eq!((v["beta"].as_f64(), v["lr"].as_f64()), (Some(d.beta as f64), Some(d.lr)));
    // The default is the fast preset: L-BFGS from the content image, beta 1e4, 20 evaluations
    // at 1/4 size and 40 at 1/2 size.
    assert_eq!(
        (v["optimizer"].as_str(), v["init"].as_str(), v["beta"].as_f64()),
        (Some("lbfgs"), Some("content"), Some(1e4))
    );
    assert_eq!(v["coarse"], serde_json::json!([20, 40]));
    assert!(!losses.is_empty() && losses.len() <= 3, "{losses:?}");
    let Some((v, losses, _dir)) = tiny_transfer(&["--size", "32", "--method", "gatys", "--iterations", "2"])
    else {
        return;
    };
    assert_eq!(
        (v["method"].as_str(), v["optimizer"].as_str(), v["init"].as_str()),
        (Some("gatys"), Some("adam"), Some("noise"))
    );
    assert_eq!((v["beta"].as_f64(), v["lr"].as_f64()), (Some(1e3), Some(5.0)));
    assert_eq!((v["beta"].as_f64(), v["lr"].as_f64()), (Some(GATYS.beta as f64), Some(GATYS.lr)));
    assert_eq!(losses.len(), 2);
    // Without --iterations the gatys preset runs 300 steps: the help says so.
    let help = common::facestyle(&["style", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("gatys") && text.contains("300 Adam steps"), "{text}");
}

/// Heavy data test (when ../shared/data/style is present): the default on the hardest pair of
/// the 15-pair table, a wide night photo under a portrait painting, meets the quality bar at
/// 256 px. The painting has 1.5x the photo's pixels at the same long side: summed Gram matrices
/// would ask every position of the photo for 1.5x the painting's energy and cover the picture
/// with faces (SSIM 0.276, style ratio 0.095 on this run); averaged ones set the painting's own
/// statistics as the target.
#[test]
fn the_default_keeps_a_wide_night_photo_under_a_portrait_painting() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/style");
    if !data.join("hoovertowernight.jpg").exists() {
        eprintln!("SKIP: {} not present (the style pictures); not run", data.display());
        return;
    }
    if cached_model("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let (c, s) = (data.join("hoovertowernight.jpg"), data.join("picasso_selfport1907.jpg"));
    let r = facestyle(&[
        "--json",
        "style",
        c.to_str().unwrap(),
        s.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let (ssim, ratio) = (v["ssim"].as_f64().unwrap(), v["style_ratio"].as_f64().unwrap());
    assert!(ssim >= 0.3 && ratio <= 0.05, "SSIM {ssim}, style ratio {ratio}: below the bar");
    assert_eq!(v["meets_bar"], serde_json::json!(true));
    assert!(v["evaluations"].as_f64().unwrap() <= 40.0, "{}", v["evaluations"]);
}
