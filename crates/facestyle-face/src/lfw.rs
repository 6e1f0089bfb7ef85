//! LFW pair lists (see the LFW README, "pairs.txt"): View 1 files start with one number N and
//! hold N matched pairs `name i j` followed by N mismatched pairs `name1 i name2 j`; the View 2
//! file starts with `folds N` and holds, for each fold, N matched then N mismatched pairs.
//! Image `i` of `name` is `name/name_%04d.jpg`.

use std::path::{Path, PathBuf};

use crate::error::{FaceError, Result};

/// One pair: two image paths relative to the images folder, and whether they show the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub same: bool,
}

/// A parsed pairs file: one fold (View 1) or ten (View 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairsFile {
    pub folds: Vec<Vec<Pair>>,
}

impl PairsFile {
    pub fn is_view2(&self) -> bool {
        self.folds.len() > 1
    }

    pub fn all(&self) -> impl Iterator<Item = &Pair> {
        self.folds.iter().flatten()
    }

    pub fn len(&self) -> usize {
        self.folds.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `name/name_0004.jpg`
pub fn image_path(name: &str, number: u32) -> String {
    format!("{name}/{name}_{number:04}.jpg")
}

pub fn read_pairs(path: &Path) -> Result<PairsFile> {
    let text =
        std::fs::read_to_string(path).map_err(|e| FaceError::dataset(path, format!("cannot read: {e}")))?;
    parse_pairs(&text, path)
}

pub fn parse_pairs(text: &str, path: &Path) -> Result<PairsFile> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let bad = |line: usize, why: String| FaceError::dataset(path, format!("line {}: {why}", line + 1));
    let (hl, header) = lines.next().ok_or_else(|| FaceError::dataset(path, "empty pairs file"))?;
    let nums: Vec<usize> = header
        .split_whitespace()
        .map(|t| t.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(hl, format!("header '{header}' is not `N` (View 1) or `folds N` (View 2)")))?;
    let (folds, per) = match nums.as_slice() {
        [n] => (1, *n),
        [f, n] => (*f, *n),
        _ => return Err(bad(hl, format!("header '{header}' is not `N` (View 1) or `folds N` (View 2)"))),
    };
    let mut out = Vec::with_capacity(folds);
    for fold in 0..folds {
        let mut pairs = Vec::with_capacity(2 * per);
        for k in 0..2 * per {
            let (ln, line) = lines.next().ok_or_else(|| {
                FaceError::dataset(
                    path,
                    format!("ends early: fold {} needs {} pairs, found {k}", fold + 1, 2 * per),
                )
            })?;
            let t: Vec<&str> = line.split_whitespace().collect();
            let num =
                |s: &str| s.parse::<u32>().map_err(|_| bad(ln, format!("'{s}' is not an image number")));
            let same = k < per;
            let pair = match (same, t.as_slice()) {
                (true, [name, i, j]) => {
                    Pair { a: image_path(name, num(i)?), b: image_path(name, num(j)?), same }
                }
                (false, [n1, i, n2, j]) => {
                    Pair { a: image_path(n1, num(i)?), b: image_path(n2, num(j)?), same }
                }
                _ => {
                    let want = if same {
                        "`name i j` (matched pair)"
                    } else {
                        "`name1 i name2 j` (mismatched pair)"
                    };
                    return Err(bad(ln, format!("'{line}' is not {want}")));
                }
            };
            pairs.push(pair);
        }
        out.push(pairs);
    }
    if let Some((ln, line)) = lines.next() {
        return Err(bad(
            ln,
            format!("unexpected extra line '{line}' after {folds} fold(s) of {} pairs", 2 * per),
        ));
    }
    Ok(PairsFile { folds: out })
}

/// Resolves a pair's relative image path under `images`.
pub fn resolve(images: &Path, rel: &str) -> PathBuf {
    images.join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_view1_and_view2_formats() {
        let p = Path::new("pairs.txt");
        let v1 = parse_pairs("2\nA 1 2\nB 3 4\nA 1 C 2\nB 2 D 1\n", p).unwrap();
        assert_eq!(v1.folds.len(), 1);
        assert!(!v1.is_view2());
        assert_eq!(v1.folds[0][0], Pair { a: "A/A_0001.jpg".into(), b: "A/A_0002.jpg".into(), same: true });
        assert_eq!(v1.folds[0][3], Pair { a: "B/B_0002.jpg".into(), b: "D/D_0001.jpg".into(), same: false });
        let v2 = parse_pairs("2\t1\nA 1 2\nA 1 C 2\nE 1 3\nE 2 F 1\n", p).unwrap();
        assert!(v2.is_view2());
        assert_eq!(v2.folds[1][0].a, "E/E_0001.jpg");
        assert!(!v2.folds[1][1].same);
        assert_eq!(v2.len(), 4);
    }

    #[test]
    fn rejects_malformed_files_with_line_numbers() {
        let p = Path::new("pairs.txt");
        let e = parse_pairs("2\nA 1 2\nB x 4\n", p).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("'x'"), "{e}");
        let e = parse_pairs("1\nA 1 2\n", p).unwrap_err().to_string();
        assert!(e.contains("ends early"), "{e}");
        let e = parse_pairs("1\nA 1 2\nA 1 2\n", p).unwrap_err().to_string();
        assert!(e.contains("mismatched"), "{e}");
        let e = parse_pairs("hello\n", p).unwrap_err().to_string();
        assert!(e.contains("header"), "{e}");
        assert!(parse_pairs("1\nA 1 2\nA 1 B 2\nextra 1 2\n", p).unwrap_err().to_string().contains("extra"));
    }
}
