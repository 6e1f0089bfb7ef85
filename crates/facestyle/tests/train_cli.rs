//! `facestyle face train`, `--model DIR` and `face train-head` / `verify --head` end to end on a
//! tiny dataset built from the committed photos (three people, two images each).

mod common;

use std::path::Path;

use common::{assert_refused, face_models, facestyle, photo};
use serde_json::Value;

/// `root/<name>/<name>_000N.jpg` for three people: each committed photo and its mirror image.
fn tiny_dataset(root: &Path) {
    for (name, file) in [
        ("Abdullah_Gul", "Abdullah_Gul_0001.jpg"),
        ("Colin_Powell", "Colin_Powell_0001.jpg"),
        ("George_W_Bush", "George_W_Bush_0001.jpg"),
    ] {
        let img = image::open(photo(file)).unwrap().to_rgb8();
        let dir = root.join("images").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        img.save(dir.join(format!("{name}_0001.jpg"))).unwrap();
        image::imageops::flip_horizontal(&img).save(dir.join(format!("{name}_0002.jpg"))).unwrap();
    }
    std::fs::write(
        root.join("pairs.txt"),
        "2\nAbdullah_Gul 1 2\nColin_Powell 1 2\nAbdullah_Gul 1 George_W_Bush 2\nColin_Powell 2 George_W_Bush 1\n",
    )
    .unwrap();
}

/// A network and batches small enough for a test: 2 people x 2 images, stem width 4.
const TINY: [&str; 8] = ["--p", "2", "--k", "2", "--singles", "0", "--width", "4"];

fn json(out: &std::process::Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", text, String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(text.lines().last().expect("a JSON line")).expect("JSON")
}

#[test]
fn train_resume_use_the_model_and_a_head() {
    if !face_models() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    tiny_dataset(d);
    let s = |p: &str| d.join(p).display().to_string();
    let (images, pairs, out, cache) = (s("images"), s("pairs.txt"), s("model"), s("crops.bin"));
    let base = [
        "--json",
        "face",
        "train",
        "--data",
        &images,
        "--val-pairs",
        &pairs,
        "--out",
        &out,
        "--crop-cache",
        &cache,
        "--epochs",
        "3",
    ]
    .into_iter()
    .chain(TINY)
    .collect::<Vec<_>>();
    // A run stopped by its time limit during epoch 1 ...
    let mut first: Vec<&str> = base.to_vec();
    first.extend(["--time-limit-min", "0.000001"]);
    let r = json(&facestyle(&first));
    assert_eq!(r["history"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["stopped_by_time_limit"], true);
    for f in ["model.json", "weights.bpk", "curve.png", "history.json", "checkpoint/state.json"] {
        assert!(d.join("model").join(f).is_file(), "{f}");
    }
    // ... is refused without --resume, and continued with it: epochs 2 and 3 follow the
    // checkpointed epoch 1 (kept as it was), not a fresh start.
    assert_refused(&base, "--resume");
    let mut again: Vec<&str> = base.to_vec();
    again.push("--resume");
    let r2 = json(&facestyle(&again));
    let h = r2["history"].as_array().unwrap();
    assert_eq!(h.iter().map(|e| e["epoch"].as_u64().unwrap()).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(h[1], r["history"][1]);
    assert_eq!(r2["stopped_by_time_limit"], false);
    // One line per training step with its loss and active fraction, over both runs.
    let steps = std::fs::read_to_string(d.join("model/steps.jsonl")).unwrap();
    let lines: Vec<Value> = steps.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines[0]["epoch"], 1);
    assert!(lines.iter().all(|l| (0.0..=1.0).contains(&l["active"].as_f64().unwrap())));
    assert_eq!(lines.last().unwrap()["epoch"], 3);
    let crops_len = std::fs::metadata(&cache).unwrap().len();
    assert!(crops_len > 6 * 112 * 112 * 3, "6 crops cached: {crops_len} bytes");

    // One epoch into `out` with `extra` arguments: the model's info.
    let one_epoch = |out: &str, extra: &[&str]| -> Value {
        let mut args =
            vec!["--json", "face", "train", "--data", &images, "--out", out, "--crop-cache", &cache];
        args.extend(["--epochs", "1"]);
        args.extend(extra.iter().copied().chain(TINY));
        let r = json(&facestyle(&args));
        assert_eq!(r["history"].as_array().unwrap().len(), 2);
        let info = std::fs::read_to_string(Path::new(out).join("model.json")).unwrap();
        serde_json::from_str(&info).unwrap()
    };
    // Without --val-pairs, identities are held out of the data for validation.
    let info = one_epoch(&s("held"), &[]);
    assert!(info["training"]["data"]["validation"].as_str().unwrap().contains("held out"), "{info}");
    assert_eq!(info["training"]["data"]["anchor_identities"], 2);

    // --exclude-pairs leaves out everyone a pairs file names (here one person of the data and
    // one who is not in it), and refuses when that leaves nobody to train on.
    let one = s("one_person.txt");
    std::fs::write(&one, "1\nAbdullah_Gul 1 2\nAbdullah_Gul 1 Nobody_Here 1\n").unwrap();
    let info = one_epoch(&s("excl"), &["--val-pairs", &pairs, "--exclude-pairs", &one]);
    assert_eq!(info["training"]["data"]["excluded_identities"], 1, "{info}");
    assert_eq!(info["training"]["data"]["identities"], 2, "{info}");
    assert_refused(
        &[
            "face",
            "train",
            "--data",
            &images,
            "--val-pairs",
            &pairs,
            "--exclude-pairs",
            &pairs,
            "--out",
            &s("excl2"),
            "--crop-cache",
            &cache,
        ],
        "nothing to train on",
    );

    // Every face command takes --model; galleries record which model made their vectors.
    let (a, b) = (photo("Abdullah_Gul_0001.jpg"), photo("Colin_Powell_0001.jpg"));
    let v = json(&facestyle(&["--json", "face", "verify", &a, &b, "--model", &out]));
    assert!(v["distance"].as_f64().unwrap().is_finite());
    let gallery = s("g.db");
    json(&facestyle(&[
        "--json",
        "face",
        "enroll",
        "--gallery",
        &gallery,
        "--name",
        "Gul",
        &a,
        "--model",
        &out,
    ]));
    let people = json(&facestyle(&["--json", "face", "people", "--gallery", &gallery, "--model", &out]));
    assert_eq!(people["people"].as_array().map(Vec::len), Some(1), "{people}");
    assert_refused(&["face", "people", "--gallery", &gallery], "trained-compact");

    // A head trained on stored embeddings of this model; verify uses it, and refuses it with
    // another model's embeddings.
    let (head, store) = (s("head.json"), s("emb.jsonl"));
    let h = json(&facestyle(&[
        "--json",
        "face",
        "train-head",
        "--data",
        &images,
        "--pairs",
        &pairs,
        "--val-pairs",
        &pairs,
        "--out",
        &head,
        "--embeddings",
        &store,
        "--crop-cache",
        &cache,
        "--model",
        &out,
        "--feature",
        "chi-square",
        "--iterations",
        "200",
    ]));
    assert_eq!(h["train_pairs"], 4);
    assert!(h["head_train_accuracy"].as_f64().unwrap() >= 0.5, "{h}");
    assert_eq!(std::fs::read_to_string(&store).unwrap().lines().count(), 6);
    let v = json(&facestyle(&["--json", "face", "verify", &a, &b, "--model", &out, "--head", &head]));
    let p = v["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p) && v["same"] == (p >= 0.5), "{v}");
    assert_refused(&["face", "verify", &a, &b, "--head", &head], "trained on trained-compact");
}

#[test]
fn bad_training_arguments_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    assert_refused(
        &["face", "train", "--data", &d, "--val-pairs", &d, "--out", &d, "--p", "1"],
        "--p and --k",
    );
    assert_refused(&["face", "train", "--data", &d, "--val-pairs", &d, "--out", &d], "no identity folders");
    let missing = dir.path().join("none").display().to_string();
    assert_refused(
        &[
            "face",
            "verify",
            &photo("Abdullah_Gul_0001.jpg"),
            &photo("Colin_Powell_0001.jpg"),
            "--model",
            &missing,
        ],
        "model.json",
    );
}

#[test]
fn a_history_is_drawn_again_as_png_or_svg() {
    let history = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/train/history_scratch.json");
    let history = history.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (png, svg) = (dir.path().join("c.png"), dir.path().join("c.svg"));
    let v = json(&facestyle(&["--json", "face", "curve", history, "-o", png.to_str().unwrap()]));
    assert!(v["epochs"].as_u64().unwrap() > 1, "{v}");
    let img = image::open(&png).unwrap().to_rgb8();
    assert!(img.pixels().any(|p| p.0 != img.get_pixel(0, 0).0), "a blank picture");
    json(&facestyle(&[
        "--json",
        "face",
        "curve",
        history,
        "-o",
        svg.to_str().unwrap(),
        "--title",
        "scratch",
    ]));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("<svg") && text.contains("scratch") && text.contains("epoch"), "{text:.300}");
    // Not a history, or a picture format the plots do not write: refused, naming the file.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{}").unwrap();
    assert_refused(&["face", "curve", bad.to_str().unwrap(), "-o", png.to_str().unwrap()], "bad.json");
    assert_refused(&["face", "curve", history, "-o", dir.path().join("c.gif").to_str().unwrap()], "c.gif");
}
