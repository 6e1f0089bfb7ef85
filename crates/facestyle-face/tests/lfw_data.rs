//! Heavy data test: verification on real LFW pairs, when ../shared/data/lfw is present (it is
//! not part of the repository). A quick slice of View 1 pairsDevTest with the threshold chosen
//! on a slice of pairsDevTrain; the full run is `facestyle face eval lfw` (see the README).

mod common;

use facestyle_face::evaluate::{embed_images, evaluate};
use facestyle_face::lfw::{PairsFile, read_pairs};
use facestyle_face::metric::Metric;

fn slice(p: PairsFile, n: usize) -> PairsFile {
    let f = &p.folds[0];
    let half = f.len() / 2;
    PairsFile { folds: vec![f[..n].iter().chain(&f[half..half + n]).cloned().collect()] }
}

#[test]
fn lfw_view1_slice_is_verified_accurately() {
    let Some(root) = common::lfw_dir() else {
        eprintln!("../shared/data/lfw not present; skipping the LFW data test");
        return;
    };
    let Some(engine) = common::engine() else { return };
    let test = slice(read_pairs(&root.join("pairsDevTest.txt")).unwrap(), 60);
    let train = slice(read_pairs(&root.join("pairsDevTrain.txt")).unwrap(), 60);
    let mut names: Vec<String> =
        test.all().chain(train.all()).flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    names.sort();
    names.dedup();
    let (emb, _) = embed_images(engine, &root.join("images_deepfunneled"), &names, &mut || {}).unwrap();
    let r = evaluate(&test, Some(&train), &emb, Metric::SqL2);
    assert_eq!(r.pairs, 120);
    assert!(r.accuracy >= 0.95, "accuracy {} on 120 pairsDevTest pairs", r.accuracy);
    assert!(r.auc >= 0.97, "AUC {}", r.auc);
    assert!(r.threshold > 0.8 && r.threshold < 1.8, "threshold {}", r.threshold);
}
