//! Who may call what: the `Host` allow-list (against DNS rebinding), the same-origin rule for
//! state-changing requests (against cross-site forms), the bearer token, and a back-off for
//! clients that keep guessing it.
//!
//! Which routes need the token: the write routes (enroll, forget, style) and the style jobs
//! always; every other `/v1` route and `/metrics` too when the operator set the token (with a
//! token made at start-up, reads stay open on loopback). `/`, `/healthz` and `/openapi.json`
//! are public.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::{AppState, lock};

/// Shortest token accepted from the operator.
pub const MIN_TOKEN_LEN: usize = 16;
/// Failed token checks one client may make in [`FAILURE_WINDOW`] before it gets 429s.
pub const MAX_FAILURES: u32 = 10;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// The bearer token: the operator's, or one made at start-up.
pub struct Token {
    digest: [u8; 32],
    value: String,
    /// Set by the operator (every `/v1` route needs it) rather than made at start-up.
    pub configured: bool,
}

impl Token {
    /// The operator's token, or 32 random bytes as hex when there is none.
    pub fn resolve(configured: Option<String>) -> Token {
        let (value, configured) = match configured {
            Some(v) => (v, true),
            None => {
                let bytes: [u8; 32] = rand::random();
                (hex::encode(bytes), false)
            }
        };
        Token { digest: Sha256::digest(value.as_bytes()).into(), value, configured }
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Compares digests in constant time (`subtle`), so neither the token's bytes nor its
    /// length show in the time taken.
    pub fn matches(&self, given: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        bool::from(d.ct_eq(&self.digest))
    }
}

/// Failed token checks per client address: after [`MAX_FAILURES`] in a window, 429 until
/// the window ends.
#[derive(Default)]
pub struct Failures {
    by_client: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Clients tracked at most; beyond it, expired windows are dropped, then the oldest.
const TRACKED: usize = 4096;

impl Failures {
    /// Seconds until `ip` may try again, when it is locked out.
    pub fn locked_out(&self, ip: IpAddr) -> Option<u64> {
        let map = lock(&self.by_client);
        let (count, since) = map.get(&ip)?;
        let left = FAILURE_WINDOW.checked_sub(since.elapsed())?;
        (*count >= MAX_FAILURES).then(|| left.as_secs().max(1))
    }

    pub fn record(&self, ip: IpAddr) {
        let mut map = lock(&self.by_client);
        if map.len() >= TRACKED && !map.contains_key(&ip) {
            map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
            if map.len() >= TRACKED
                && let Some(oldest) = map.iter().min_by_key(|(_, (_, since))| *since).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        let e = map.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= FAILURE_WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}

/// How much a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// The token when the operator set one.
    TokenIfConfigured,
    /// The token always.
    Token,
}

/// The access rule of `method path`.
pub fn access(method: &Method, path: &str, public_metrics: bool) -> Access {
    let writes = (method == Method::POST && (path == "/v1/enroll" || path == "/v1/style"))
        || (method == Method::DELETE && path.starts_with("/v1/people/"));
    if writes || path.starts_with("/v1/jobs/") {
        Access::Token
    } else if path.starts_with("/v1/") || (path == "/metrics" && !public_metrics) {
        Access::TokenIfConfigured
    } else {
        Access::Public
    }
}

/// The middleware in front of every route: Host, Origin, then the token.
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Err(e) = check_host(&req, &state.config.allowed_hosts) {
        return e.into_response();
    }
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Err(e) = check_same_origin(req.headers()) {
        return e.into_response();
    }
    let need = match access(req.method(), req.uri().path(), state.config.public_metrics) {
        Access::Public => false,
        Access::TokenIfConfigured => state.token.configured,
        Access::Token => true,
    };
    if need {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        if let Some(wait) = state.failures.locked_out(ip) {
            let mut r = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests with a wrong token; try again in {wait} s"),
            )
            .into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return r;
        }
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let ok = given.and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|t| state.token.matches(t.trim()));
        if !ok {
            state.failures.record(ip);
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this route needs 'Authorization: Bearer <token>'",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// The host the request is addressed to (`Host` header, or the URI's authority), without
/// the port, lowercased.
fn request_host(req: &Request) -> Option<(String, String)> {
    let authority = match req.headers().get(header::HOST) {
        Some(h) => h.to_str().ok()?.trim().to_ascii_lowercase(),
        None => req.uri().authority()?.as_str().to_ascii_lowercase(),
    };
    let host = split_host(&authority)?.to_string();
    Some((authority, host))
}

/// `host` of `host[:port]` or `[v6]:port`.
fn split_host(authority: &str) -> Option<&str> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        return Some(&rest[..end]);
    }
    Some(authority.rsplit_once(':').map_or(authority, |(h, _)| h)).filter(|h| !h.is_empty())
}

/// Accepts IP literals (no DNS name can be rebound onto them), `localhost`, and the names
/// the operator allowed.
fn check_host(req: &Request, allowed: &[String]) -> Result<(), ApiError> {
    let Some((_, host)) = request_host(req) else {
        return Err(ApiError::bad_request("the request has no Host header"));
    };
    let name = host.trim_end_matches('.');
    let ok = name.parse::<IpAddr>().is_ok()
        || name == "localhost"
        || allowed.iter().any(|a| a.trim_end_matches('.').eq_ignore_ascii_case(name));
    if ok {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "Host '{host}' is not served here: use an IP address or localhost, or start the server \
             with --allow-host {host}"
        ),
    ))
}

/// State-changing requests from a browser must come from a page of this server: a present
/// `Origin` must name this host and port, and `Sec-Fetch-Site` (when sent) must say
/// same-origin. Clients that are not browsers send neither.
fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse =
        |why: String| Err(ApiError::new(StatusCode::FORBIDDEN, format!("cross-site request refused: {why}")));
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return refuse(format!("Sec-Fetch-Site is '{site}'"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let host =
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
    let authority = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
    match authority {
        Some(a) if !host.is_empty() && a == host => Ok(()),
        _ => refuse(format!("Origin '{origin}' is not this server ('{host}')")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_digest() {
        let t = Token::resolve(Some("a-long-enough-token".into()));
        assert!(t.matches("a-long-enough-token"));
        assert!(!t.matches("a-long-enough-toke"));
        assert!(!t.matches(""));
        let made = Token::resolve(None);
        assert_eq!(made.value().len(), 64);
        assert!(!made.configured && made.matches(made.value()));
        assert_ne!(made.value(), Token::resolve(None).value());
    }

    #[test]
    fn hosts_split_and_routes_classify() {
        assert_eq!(split_host("[::1]:8080"), Some("::1"));
        assert_eq!(split_host("localhost:80"), Some("localhost"));
        assert_eq!(split_host("example.com"), Some("example.com"));
        assert_eq!(access(&Method::POST, "/v1/enroll", false), Access::Token);
        assert_eq!(access(&Method::DELETE, "/v1/people/x", false), Access::Token);
        assert_eq!(access(&Method::GET, "/v1/jobs/job-1", false), Access::Token);
        assert_eq!(access(&Method::POST, "/v1/identify", false), Access::TokenIfConfigured);
        assert_eq!(access(&Method::GET, "/metrics", false), Access::TokenIfConfigured);
        assert_eq!(access(&Method::GET, "/metrics", true), Access::Public);
        assert_eq!(access(&Method::GET, "/healthz", false), Access::Public);
    }

    #[test]
    fn failures_lock_a_client_out_and_others_not() {
        let f = Failures::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..MAX_FAILURES - 1 {
            f.record(a);
        }
        assert!(f.locked_out(a).is_none());
        f.record(a);
        assert!(f.locked_out(a).is_some_and(|s| s <= FAILURE_WINDOW.as_secs()));
        assert!(f.locked_out(b).is_none());
    }
}
