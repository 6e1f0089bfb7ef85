//! `style_table --resume`: rows kept from an earlier run are reused, not run again, and a row
//! made with another size or other flags is refused.

use std::path::Path;
use std::process::Command;

fn write_picture(path: &Path, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(40, 30, image::Rgb(rgb)).save(path).unwrap();
}

/// A data folder with one photo and one painting, and an output folder holding a finished row
/// for that pair made at `size` with `flags`.
fn setup(size: u32, flags: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    write_picture(&dir.path().join("data/photo.jpg"), [200, 100, 50]);
    write_picture(&dir.path().join("data/painting.jpg"), [20, 40, 200]);
    write_picture(&dir.path().join("out/photo__painting.png"), [90, 90, 90]);
    let row = serde_json::json!({
        "content": "photo", "style": "painting", "ssim": 0.512, "style_ratio": 0.0123,
        "meets_bar": true, "evaluations": 39.4, "seconds": 321.0, "peak_rss_mib": 1900.0,
        "seconds_optimise": 300.0, "size": size, "flags": flags,
    });
    std::fs::write(dir.path().join("out/photo__painting.json"), row.to_string()).unwrap();
    dir
}

fn style_table(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_style_table"))
        .arg("--data")
        .arg(dir.join("data"))
        .arg("--out")
        .arg(dir.join("out"))
        // Any attempt to run a pair fails: the row must come from the saved files.
        .args(["--facestyle", "/nonexistent/facestyle", "--pairs", "photo:painting"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn resume_reuses_a_finished_row_and_draws_the_sheet() {
    let dir = setup(1024, &["--luma-weight", "0"]);
    let out = style_table(dir.path(), &["--size", "1024", "--resume", "--", "--luma-weight", "0"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| photo | painting | 0.512 | 0.0123 | yes | 39.4 | 321.0 | 1900 |"), "{stdout}");
    assert!(stdout.contains("pairs meeting the bar: 1/1"), "{stdout}");
    let table = std::fs::read_to_string(dir.path().join("out/table.md")).unwrap();
    assert!(table.contains("| photo | painting | 0.512 |"), "{table}");
    let jsonl = std::fs::read_to_string(dir.path().join("out/table.jsonl")).unwrap();
    let row: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(row["peak_rss_mib"], 1900.0);
    let sheet = image::open(dir.path().join("out/contact_sheet.jpg")).unwrap();
    assert!(sheet.width() > 2 * 160 && sheet.height() > 2 * 160);
}

#[test]
fn resume_refuses_a_row_of_another_size_or_flags() {
    let dir = setup(512, &[]);
    let out = style_table(dir.path(), &["--size", "1024", "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("photo__painting.json") && stderr.contains("--size 512"), "{stderr}");

    let out = style_table(dir.path(), &["--size", "512", "--resume", "--", "--luma-weight", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not this run's"));
}

#[test]
fn without_resume_the_pair_runs_again() {
    let dir = setup(1024, &[]);
    let out = style_table(dir.path(), &["--size", "1024"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("/nonexistent/facestyle"), "{stderr}");
}
