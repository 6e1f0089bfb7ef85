//! Reading multipart forms: named text fields and image files, with the limits applied
//! before anything is decoded. A form may name each text field once and carry at most
//! `max_files` files; the images of one request may take at most `max_decoded_bytes` once
//! decoded (estimated from their headers), each at most `max_pixels`.

use std::collections::HashMap;
use std::io::Cursor;

use axum::body::Bytes;
use axum::extract::Multipart;
use axum::http::StatusCode;
use image::{ImageDecoder, ImageReader, RgbImage};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// Longest file name kept from an upload, in bytes.
pub const MAX_FILENAME: usize = 100;

/// An uploaded image, decoded.
pub struct Upload {
    pub field: String,
    pub filename: String,
    pub image: RgbImage,
    pub sha256: String,
}

/// An uploaded file, not decoded yet.
#[derive(Clone)]
pub struct File {
    pub field: String,
    /// The client's file name reduced to a short printable base name (the field name when
    /// there is none).
    pub filename: String,
    pub bytes: Bytes,
}

/// The fields of a form: text values and files (still bytes).
#[derive(Default)]
pub struct Form {
    pub text: HashMap<String, String>,
    pub files: Vec<File>,
}

/// What the decoded images of one request may take.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_pixels: u64,
    pub max_decoded_bytes: u64,
}

impl Form {
    /// Reads the whole form; refuses a text field named twice and more than `max_files`
    /// files.
    pub async fn read(mut m: Multipart, max_files: usize) -> ApiResult<Form> {
        let mut form = Form::default();
        while let Some(field) = m.next_field().await? {
            let name = field.name().unwrap_or_default().to_string();
            match field.file_name().map(str::to_string) {
                Some(filename) => {
                    if form.files.len() == max_files {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("more than {max_files} files in one form"),
                        ));
                    }
                    let bytes = field.bytes().await?;
                    let filename = display_name(&filename, &name);
                    form.files.push(File { field: name, filename, bytes });
                }
                None => {
                    let value = field.text().await?;
                    if form.text.insert(name.clone(), value).is_some() {
                        return Err(ApiError::bad_request(format!("field '{}' given twice", short(&name))));
                    }
                }
            }
        }
        Ok(form)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.text.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    pub fn required_text(&self, name: &str) -> ApiResult<&str> {
        self.text(name).ok_or_else(|| ApiError::bad_request(format!("missing form field '{name}'")))
    }

    /// A number field, or `default` when absent.
    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> ApiResult<T> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::bad_request(format!("field '{name}': '{}' is not a number", short(v)))
            }),
        }
    }

    /// The files of field `name` (at least one), not decoded.
    pub fn files(&self, name: &str) -> ApiResult<Vec<File>> {
        let files: Vec<File> = self.files.iter().filter(|f| f.field == name).cloned().collect();
        if files.is_empty() {
            return Err(ApiError::bad_request(format!("missing image field '{name}'")));
        }
        Ok(files)
    }

    /// The one file of field `name`, refused when the field is repeated.
    pub fn file(&self, name: &str) -> ApiResult<File> {
        let mut v = self.files(name)?;
        if v.len() > 1 {
            return Err(ApiError::bad_request(format!("field '{name}' takes one image, got {}", v.len())));
        }
        Ok(v.remove(0))
    }
}

/// A client's file name as stored and shown: the base name, printable characters only, at
/// most [`MAX_FILENAME`] bytes; `field` when nothing is left.
pub fn display_name(filename: &str, field: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = truncate(clean.trim(), MAX_FILENAME);
    if clean.is_empty() { truncate(field, MAX_FILENAME).to_string() } else { clean.to_string() }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// At most 40 bytes of a caller's value, for error messages.
fn short(s: &str) -> String {
    let t = truncate(s, 40);
    if t.len() < s.len() { format!("{t}...") } else { t.to_string() }
}

/// Bytes `file` takes decoded (its native pixels plus the RGB copy), from its header; 0
/// when the header cannot be read (decoding then reports the problem).
fn decoded_bytes(file: &File, limits: &ImageLimits) -> ApiResult<u64> {
    let Some(decoder) = ImageReader::new(Cursor::new(&file.bytes[..]))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_decoder().ok())
    else {
        return Ok(0);
    };
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{}: image is {w}x{h} = {pixels} pixels, above this server's limit of {}",
                file.filename, limits.max_pixels
            ),
        ));
    }
    Ok(pixels * (decoder.color_type().bytes_per_pixel() as u64 + 3))
}

/// Refuses, before decoding anything, a request whose images would take more than the
/// limits allow.
pub fn check_budget<'a>(files: impl IntoIterator<Item = &'a File>, limits: &ImageLimits) -> ApiResult<()> {
    let (mut total, mut count) = (0u64, 0);
    for f in files {
        total = total.saturating_add(decoded_bytes(f, limits)?);
        count += 1;
    }
    if total > limits.max_decoded_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the {count} images of this request would take {} MiB decoded, above this server's limit of {} MiB",
                total >> 20,
                limits.max_decoded_bytes >> 20
            ),
        ));
    }
    Ok(())
}

/// Decodes one uploaded file (EXIF orientation honoured); runs on the blocking pool.
pub fn decode(file: &File) -> ApiResult<Upload> {
    let image = facestyle_face::photo::decode_rgb(&file.bytes, std::path::Path::new(&file.filename))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(&file.bytes));
    Ok(Upload { field: file.field.clone(), filename: file.filename.clone(), image, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_short_printable_base_names() {
        assert_eq!(display_name("../../etc/passwd", "image"), "passwd");
        assert_eq!(display_name("C:\\photos\\me.jpg", "image"), "me.jpg");
        assert_eq!(display_name("a\u{0}b\nc.png", "image"), "abc.png");
        assert_eq!(display_name("", "image"), "image");
        assert_eq!(display_name("dir/", "b"), "b");
        let long = "é".repeat(300);
        let shown = display_name(&long, "image");
        assert!(shown.len() <= MAX_FILENAME && shown.chars().all(|c| c == 'é'), "{shown}");
    }
}
