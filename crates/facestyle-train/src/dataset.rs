//! A face dataset laid out one folder per identity (as LFW): `root/<name>/<image>`, optionally
//! restricted to the people of an LFW people list (`peopleDevTrain.txt`: a count, then
//! `name images` lines).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use facestyle_face::lfw::{Pair, PairsFile};
use facestyle_face::{FaceError, Result};

/// Identity name -> image paths relative to the root, sorted.
pub type Identities = BTreeMap<String, Vec<String>>;

/// Every image under `root/<identity>/`, by identity. Files that are not images by extension
/// are ignored; images directly under `root` belong to no identity and are refused.
pub fn scan(root: &Path) -> Result<Identities> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| FaceError::dataset(root, format!("cannot list the folder: {e}")))?;
    let mut out = Identities::new();
    for entry in entries {
        let entry = entry.map_err(|e| FaceError::dataset(root, format!("cannot list the folder: {e}")))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut images: Vec<String> = facestyle_face::photo::image_files(&path)?
                .into_iter()
                .filter_map(|p| p.strip_prefix(root).ok().map(|r| r.to_string_lossy().into_owned()))
                .collect();
            images.sort();
            if !images.is_empty() {
                out.insert(name, images);
            }
        } else if facestyle_face::photo::is_image_path(&path) {
            return Err(FaceError::dataset(
                root,
                format!("{name} is not inside an identity folder (expected root/<person>/<image>)"),
            ));
        }
    }
    if out.is_empty() {
        return Err(FaceError::dataset(root, "no identity folders with images"));
    }
    Ok(out)
}

/// Names in an LFW people file (`N`, then N lines `name count`; View 2's `peopleDevTrain`
/// layout with several sets, `sets` then `N` per set, is read the same way).
pub fn read_people(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| FaceError::dataset(path, format!("cannot read: {e}")))?;
    let mut names = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t: Vec<&str> = line.split_whitespace().collect();
        match t.as_slice() {
            [] => {}
            [n] if n.parse::<usize>().is_ok() => {}
            [name, count] if count.parse::<usize>().is_ok() => names.push(name.to_string()),
            _ => {
                return Err(FaceError::dataset(
                    path,
                    format!("line {}: '{line}' is not `name count`", i + 1),
                ));
            }
        }
    }
    if names.is_empty() {
        return Err(FaceError::dataset(path, "no people listed"));
    }
    Ok(names)
}

/// The identities named in `people` (those missing from the dataset are returned apart).
pub fn restrict(all: &Identities, people: &[String]) -> (Identities, Vec<String>) {
    let mut kept = Identities::new();
    let mut missing = Vec::new();
    for p in people {
        match all.get(p) {
            Some(v) => {
                kept.insert(p.clone(), v.clone());
            }
            None => missing.push(p.clone()),
        }
    }
    (kept, missing)
}

/// The people a pairs file names (the folder part of each image path, `person/image`).
pub fn pair_people(file: &PairsFile) -> BTreeSet<String> {
    let person = |p: &str| p.split('/').next().unwrap_or("").to_string();
    file.all().flat_map(|p| [person(&p.a), person(&p.b)]).collect()
}

/// `ids` without the identities named in `leave_out`; returns those kept and how many left.
pub fn exclude(ids: Identities, leave_out: &BTreeSet<String>) -> (Identities, usize) {
    let before = ids.len();
    let kept: Identities = ids.into_iter().filter(|(k, _)| !leave_out.contains(k)).collect();
    let removed = before - kept.len();
    (kept, removed)
}

/// Validation pairs when none are given: every `every`-th identity with two or more images
/// (in name order) is held out of training; for each, one matched pair (its first two images)
/// and one mismatched pair (its first image with the next held-out identity's second image).
/// Returns the training identities and the pairs.
pub fn hold_out(ids: &Identities, every: usize) -> (Identities, PairsFile) {
    let multi: Vec<&String> = ids.iter().filter(|(_, v)| v.len() >= 2).map(|(k, _)| k).collect();
    let held: Vec<&String> =
        multi.iter().copied().enumerate().filter(|(i, _)| i % every.max(1) == 0).map(|(_, k)| k).collect();
    let mut train = ids.clone();
    for h in &held {
        train.remove(*h);
    }
    let mut same = Vec::new();
    let mut diff = Vec::new();
    for (i, h) in held.iter().enumerate() {
        let imgs = &ids[*h];
        same.push(Pair { a: imgs[0].clone(), b: imgs[1].clone(), same: true });
        if held.len() > 1 {
            let other = &ids[held[(i + 1) % held.len()]];
            diff.push(Pair { a: imgs[0].clone(), b: other[1].clone(), same: false });
        }
    }
    same.extend(diff);
    (train, PairsFile { folds: vec![same] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_identity_folders_and_people_lists() {
        let dir = tempfile::tempdir().unwrap();
        for (who, n) in [("Ann", 2), ("Bob", 1)] {
            std::fs::create_dir(dir.path().join(who)).unwrap();
            for i in 1..=n {
                image::RgbImage::new(4, 4)
                    .save(dir.path().join(who).join(format!("{who}_{i:04}.jpg")))
                    .unwrap();
            }
        }
        std::fs::write(dir.path().join("Ann").join("notes.txt"), "x").unwrap();
        let ids = scan(dir.path()).unwrap();
        assert_eq!(ids["Ann"], vec!["Ann/Ann_0001.jpg", "Ann/Ann_0002.jpg"]);
        assert_eq!(ids["Bob"].len(), 1);

        let people = dir.path().join("people.txt");
        std::fs::write(&people, "2\nAnn\t2\nZed\t3\n").unwrap();
        let names = read_people(&people).unwrap();
        let (kept, missing) = restrict(&ids, &names);
        assert_eq!((kept.len(), missing), (1, vec!["Zed".to_string()]));

        std::fs::write(&people, "1\nAnn two words\n").unwrap();
        assert!(read_people(&people).unwrap_err().to_string().contains("line 2"));
        // Holding out every identity with two images: one matched pair, no mismatched one.
        let (train, pairs) = hold_out(&ids, 1);
        assert_eq!(train.keys().collect::<Vec<_>>(), vec!["Bob"]);
        assert_eq!(pairs.all().map(|p| p.same).collect::<Vec<_>>(), vec![true]);
        // Leaving out the people of a pairs file.
        let named = pair_people(&pairs);
        assert_eq!(named.iter().collect::<Vec<_>>(), vec!["Ann"]);
        let (rest, removed) = exclude(ids.clone(), &named);
        assert_eq!((rest.keys().map(String::as_str).collect::<Vec<_>>(), removed), (vec!["Bob"], 1));
        image::RgbImage::new(4, 4).save(dir.path().join("stray.png")).unwrap();
        assert!(scan(dir.path()).unwrap_err().to_string().contains("stray.png"));
    }
}
