//! A minimal blocking HTTP/1.1 client (one request per connection) for the load benchmark and
//! the process-level tests: no client library needed to talk to our own server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

pub enum Part<'a> {
    Text(&'a str),
    File(&'a str, &'a [u8]),
}

/// The multipart boundary [`multipart`] uses.
pub const BOUNDARY: &str = "facestyle-client-boundary";

/// A multipart/form-data body and its content type.
pub fn multipart(parts: &[(&str, Part)]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, part) in parts {
        body.extend(format!("--{BOUNDARY}\r\n").bytes());
        match part {
            Part::Text(v) => {
                body.extend(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{v}\r\n").bytes())
            }
            Part::File(filename, bytes) => {
                body.extend(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .bytes(),
                );
                body.extend(*bytes);
                body.extend(b"\r\n");
            }
        }
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// Sends one request and reads the whole reply.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&(String, Vec<u8>)>,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head += &format!("Authorization: Bearer {t}\r\n");
    }
    let empty = (String::new(), Vec::new());
    let (ctype, bytes) = body.unwrap_or(&empty);
    if body.is_some() {
        head += &format!("Content-Type: {ctype}\r\n");
    }
    head += &format!("Content-Length: {}\r\n\r\n", bytes.len());
    s.write_all(head.as_bytes())?;
    s.write_all(bytes)?;
    // Read the head, then exactly Content-Length bytes when given (some servers keep the
    // connection open despite `Connection: close`), else to the end.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").and_then(|v| v.trim().parse::<usize>().ok()));
            if let Some(n) = length {
                while raw.len() < end + 4 + n {
                    let k = s.read(&mut buf)?;
                    if k == 0 {
                        break;
                    }
                    raw.extend_from_slice(&buf[..k]);
                }
                return parse(&raw);
            }
        }
        let k = s.read(&mut buf)?;
        if k == 0 {
            return parse(&raw);
        }
        raw.extend_from_slice(&buf[..k]);
    }
}

fn parse(raw: &[u8]) -> std::io::Result<Reply> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status =
        head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status"))?;
    let mut body = raw[split + 4..].to_vec();
    if head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked")) {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").ok_or_else(|| bad("chunk size"))?;
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
                .map_err(|_| bad("chunk size"))?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend(&rest[..size.min(rest.len())]);
            rest = &rest[(size + 2).min(rest.len())..];
        }
        body = out;
    }
    Ok(Reply { status, body })
}
