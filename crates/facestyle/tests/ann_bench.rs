//! `ann_bench --graphs`: every graph listed is built and measured on one gallery, its width
//! sweep repeated in rounds (with LFW rank-1 at each width when `--lfw` gives probes); a graph
//! it cannot read is refused by name.

use std::process::Command;

fn ann_bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ann_bench")).args(args).output().unwrap()
}

/// Embeddings as `facestyle face embed` writes them: 4 people (one folder each) of 3 photos,
/// each photo its person's direction plus a little noise.
fn embeddings_file(path: &std::path::Path) {
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut lines = String::new();
    for person in 0..4 {
        let centre: Vec<f32> = (0..128).map(|_| next()).collect();
        for photo in 0..3 {
            let mut v: Vec<f32> = centre.iter().map(|c| c + 0.05 * next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            let line = serde_json::json!({
                "image": format!("lfw/person{person}/photo{photo}.jpg"),
                "bbox": [0.0, 0.0, 50.0, 60.0],
                "embedding": v,
            });
            lines += &format!("{line}\n");
        }
    }
    std::fs::write(path, lines).unwrap();
}

#[test]
fn each_graph_is_built_and_swept() {
    let dir = tempfile::tempdir().unwrap();
    let lfw = dir.path().join("lfw.jsonl");
    embeddings_file(&lfw);
    let args = "--faces 3000 --queries 20 --sides exact,hnsw --graphs f16:16,i8:8 --sweep 100,200 --repeat 2";
    let mut args: Vec<&str> = args.split(' ').collect();
    args.extend(["--lfw", lfw.to_str().unwrap()]);
    let out = ann_bench(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sides: Vec<&str> =
        report["sides"].as_array().unwrap().iter().map(|s| s[0].as_str().unwrap()).collect();
    assert_eq!(
        sides,
        [
            "exact scan",
            "in-process HNSW (SQLite gallery: f16, 16 links)",
            "in-process HNSW (SQLite gallery: i8, 8 links)"
        ]
    );
    // An i8 graph holds fewer bytes a face than an f16 one with more links.
    let bytes = |i: usize| report["sides"][i][1]["bytes_per_face"].as_f64().unwrap();
    assert!(bytes(2) < bytes(1), "{} vs {}", bytes(2), bytes(1));
    // Two graphs at two widths, each measured in 2 rounds.
    let sweep = report["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 4, "{sweep:?}");
    assert_eq!(stderr.matches("i8, 8 links), width 200: p50").count(), 2, "{stderr}");
    for s in sweep {
        let recall = s[3].as_f64().unwrap();
        assert!(recall > 0.5 && recall <= 1.0, "{s:?}");
    }
    assert!(report["isa"].as_str().unwrap().contains("i8: "), "{}", report["isa"]);
    // 4 LFW people enrolled with one photo, their 8 other photos probes: each found at each
    // width of each graph (their own photo is far nearer than any distractor).
    assert!(stderr.contains("4 people enrolled among the distractors, 8 probes"), "{stderr}");
    let rank1 = report["sweep_lfw_rank1"].as_array().unwrap();
    assert_eq!(rank1.len(), 4, "{rank1:?}");
    assert!(rank1.iter().all(|r| r[2].as_f64() == Some(1.0)), "{rank1:?}");
}

#[test]
fn a_graph_it_cannot_read_is_refused_by_name() {
    for (graphs, named) in [("f64:32", "'f64' is not one of f32, f16, bf16, i8"), ("f16:many", "'f16:many'")]
    {
        let out = ann_bench(&["--faces", "100", "--sides", "hnsw", "--graphs", graphs]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(named), "{graphs}: {stderr}");
    }
}
