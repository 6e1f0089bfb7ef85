//! Reading multipart forms: named text fields and image files, with the limits applied.

use std::collections::HashMap;

use axum::extract::Multipart;
use image::RgbImage;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// An uploaded image, decoded.
pub struct Upload {
    pub field: String,
    pub filename: String,
    pub image: RgbImage,
    pub sha256: String,
}

/// The fields of a form: text values and files (still bytes).
#[derive(Default)]
pub struct Form {
    pub text: HashMap<String, String>,
    pub files: Vec<(String, String, Vec<u8>)>,
}

impl Form {
    pub async fn read(mut m: Multipart) -> ApiResult<Form> {
        let mut form = Form::default();
        while let Some(field) = m.next_field().await? {
            let name = field.name().unwrap_or_default().to_string();
            match field.file_name().map(str::to_string) {
                Some(filename) => {
                    let bytes = field.bytes().await?;
                    form.files.push((name, filename, bytes.to_vec()));
                }
                None => {
                    form.text.insert(name, field.text().await?);
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
            Some(v) => {
                v.parse().map_err(|_| ApiError::bad_request(format!("field '{name}': '{v}' is not a number")))
            }
        }
    }

    /// Raw bytes of the files of field `name`.
    pub fn files_named(&self, name: &str) -> Vec<&(String, String, Vec<u8>)> {
        self.files.iter().filter(|f| f.0 == name).collect()
    }
}

/// Decodes the files of field `name` (at least one).
pub fn images(form: &Form, name: &str) -> ApiResult<Vec<Upload>> {
    let files = form.files_named(name);
    if files.is_empty() {
        return Err(ApiError::bad_request(format!("missing image field '{name}'")));
    }
    files.into_iter().map(decode).collect()
}

/// Decodes one uploaded file (EXIF orientation honoured, pixel limit checked from the header).
pub fn decode(file: &(String, String, Vec<u8>)) -> ApiResult<Upload> {
    let (field, filename, bytes) = file;
    let shown = if filename.is_empty() { field.clone() } else { filename.clone() };
    let image = facestyle_face::photo::decode_rgb(bytes, std::path::Path::new(&shown))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(bytes));
    Ok(Upload { field: field.clone(), filename: shown, image, sha256 })
}

/// The one image of field `name`.
pub fn image(form: &Form, name: &str) -> ApiResult<Upload> {
    let mut v = images(form, name)?;
    if v.len() > 1 {
        return Err(ApiError::bad_request(format!("field '{name}' takes one image, got {}", v.len())));
    }
    Ok(v.remove(0))
}
