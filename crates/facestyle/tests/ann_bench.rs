//! `ann_bench --graphs`: every graph listed is built and measured on one gallery, its width
//! sweep repeated in rounds; a graph it cannot read is refused by name.

use std::process::Command;

fn ann_bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ann_bench")).args(args).output().unwrap()
}

#[test]
fn each_graph_is_built_and_swept() {
    let out = ann_bench(&[
        "--faces",
        "3000",
        "--queries",
        "20",
        "--sides",
        "exact,hnsw",
        "--graphs",
        "f16:16,i8:8",
        "--sweep",
        "100,200",
        "--repeat",
        "2",
    ]);
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
    assert_eq!(stderr.matches("i8, 8 links), width 200").count(), 2, "{stderr}");
    for s in sweep {
        let recall = s[3].as_f64().unwrap();
        assert!(recall > 0.5 && recall <= 1.0, "{s:?}");
    }
    assert!(report["isa"].as_str().unwrap().contains("i8: "), "{}", report["isa"]);
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
