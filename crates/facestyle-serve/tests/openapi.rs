//! The generated OpenAPI document against the router: every route is documented with its
//! method, nothing undocumented is routed and nothing documented is missing, the routes that
//! need the token name the bearer scheme, every schema referred to exists, and the server
//! serves the document at `/openapi.json`.

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::{call, json, server};
use facestyle_serve::auth::{Access, access};
use facestyle_serve::openapi::{BEARER, doc};
use facestyle_serve::routes;
use serde_json::Value;

fn spec() -> Value {
    serde_json::to_value(doc()).unwrap()
}

/// `(method, path)` of every route the router is built from.
fn routed() -> BTreeSet<(String, String)> {
    routes().iter().map(|r| (r.method.as_str().to_lowercase(), r.path.to_string())).collect()
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .filter(|(m, _)| ["get", "put", "post", "delete", "patch", "head", "options"].contains(&m.as_str()))
        .collect();
    let routed = routed();
    assert_eq!(routed.len(), routes().len(), "a method and path routed twice");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(undocumented.is_empty(), "routed but not in the OpenAPI document: {undocumented:?}");
    assert!(unrouted.is_empty(), "in the OpenAPI document but not routed: {unrouted:?}");
    for (method, path) in &routed {
        let op = &paths[path][method];
        assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: no summary");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
        for name in path.split('{').skip(1).map(|p| p.split('}').next().unwrap()) {
            let params = op["parameters"].as_array().map(Vec::as_slice).unwrap_or_default();
            assert!(
                params.iter().any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true),
                "{method} {path}: path parameter {name} undocumented"
            );
        }
    }
}

#[test]
fn routes_needing_the_token_name_the_bearer_scheme() {
    let spec = spec();
    let scheme = &spec["components"]["securitySchemes"][BEARER];
    assert_eq!(
        (scheme["type"].as_str(), scheme["scheme"].as_str()),
        (Some("http"), Some("bearer")),
        "{scheme}"
    );
    assert!(scheme["description"].as_str().is_some_and(|d| d.contains("token")));
    for route in routes() {
        let op = &spec["paths"][route.path][route.method.as_str().to_lowercase()];
        let names: Vec<&str> = op["security"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .flat_map(|req| req.as_object().unwrap().keys().map(String::as_str))
            .collect();
        let needs = access(&route.method, route.path, false) != Access::Public;
        assert_eq!(names == [BEARER], needs, "{} {}: security {names:?}", route.method, route.path);
    }
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_schema_referred_to_exists() {
    let spec = spec();
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(found.len() > 10, "{found:?}");
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(spec["components"]["schemas"][name].is_object(), "{r} has no schema");
    }
    // The answers' field names, as the page and the clients read them.
    let schema = |n: &str| spec["components"]["schemas"][n].to_string();
    for (name, fields) in [
        ("Verdict", &["distance", "threshold", "same", "metric"][..]),
        ("Compared", &["image", "faces", "bbox", "fallback"]),
        ("Identification", &["image", "width", "height", "metric", "threshold", "faces"]),
        ("Identified", &["name", "distance", "candidates"]),
        ("Enrolled", &["name", "added", "already_present", "embeddings"]),
        ("Submitted", &["id", "status", "result"]),
        (
            "JobStatus",
            &["state", "step", "steps", "iterations", "loss", "ssim", "style_ratio", "preview_step"],
        ),
        ("ErrorBody", &["error"]),
    ] {
        for f in fields {
            assert!(schema(name).contains(&format!("\"{f}\"")), "{name} lacks {f}: {}", schema(name));
        }
    }
    assert!(!schema("JobStatus").contains("result_png"));
    let verify = &spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["multipart/form-data"];
    assert!(verify["schema"]["$ref"].as_str().is_some_and(|r| r.ends_with("/VerifyForm")), "{verify}");
    let form = schema("VerifyForm");
    assert!(form.contains("\"binary\"") && form.contains("\"threshold\""), "{form}");
}

#[tokio::test]
async fn the_document_is_served() {
    let s = server(None, |_| {});
    let (status, body) = call(&s.app, Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let served = json(&body);
    assert_eq!(served, spec());
    assert!(served["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    assert_eq!(served["info"]["title"], "facestyle");
}
