//! The OpenAPI 3 description of the routes (tests check that every path and method listed
//! here is routed).

use serde_json::{Value, json};

fn multipart(fields: &[(&str, &str, bool)]) -> Value {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for (name, kind, req) in fields {
        let schema = match *kind {
            "file" => json!({"type": "string", "format": "binary"}),
            "files" => json!({"type": "array", "items": {"type": "string", "format": "binary"}}),
            "number" => json!({"type": "number"}),
            _ => json!({"type": "string"}),
        };
        props.insert(name.to_string(), schema);
        if *req {
            required.push(*name);
        }
    }
    json!({"required": true, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props, "required": required}}}})
}

fn answer(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"type": "object"}}}})
}

fn errors() -> Value {
    json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

pub fn spec() -> Value {
    let secured = json!([{"bearer": []}]);
    json!({
        "openapi": "3.0.3",
        "x-errors": "Every route may also answer 421 (Host not served here), 403 (cross-site request), 401 (token), 429 (too many wrong tokens; Retry-After), 413 (body, files or decoded pixels over the limits) and 503 (timed out).",
        "info": {"title": "facestyle", "version": env!("CARGO_PKG_VERSION"),
            "description": "Face verification, identification and one-shot enrolment (YuNet + SFace), and Gatys style transfer (VGG19)."},
        "paths": {
            "/healthz": {"get": {"summary": "Health: models loaded, style worker running", "responses": {"200": answer("ok or degraded"), "503": answer("unhealthy, with the problems")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (needs the operator's token unless --public-metrics)", "security": secured,
                "responses": {"200": {"description": "text exposition"}, "401": errors()}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": answer("the spec")}}},
            "/v1/verify": {"post": {"summary": "Distance between the largest faces of two photos", "security": secured,
                "requestBody": multipart(&[("a", "file", true), ("b", "file", true), ("metric", "string", false), ("threshold", "number", false)]),
                "responses": {"200": answer("distance, threshold, same"), "400": errors(), "413": errors(), "422": errors()}}},
            "/v1/identify": {"post": {"summary": "Name (or unknown) for every face of a photo", "security": secured,
                "requestBody": multipart(&[("image", "file", true), ("top", "number", false), ("metric", "string", false), ("threshold", "number", false)]),
                "responses": {"200": answer("faces with names"), "400": errors(), "404": errors(), "413": errors()}}},
            "/v1/enroll": {"post": {"summary": "Enroll a person from one or more photos (one transaction)", "security": secured,
                "requestBody": multipart(&[("name", "string", true), ("image", "files", true)]),
                "responses": {"200": answer("enrolled"), "400": errors(), "401": errors(), "413": errors(), "422": errors()}}},
            "/v1/people": {"get": {"summary": "Enrolled people", "security": secured, "responses": {"200": answer("people")}}},
            "/v1/people/{name}": {"delete": {"summary": "Forget a person", "security": secured,
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": answer("forgotten"), "401": errors(), "404": errors()}}},
            "/v1/style": {"post": {"summary": "Queue a style transfer (the fast preset: L-BFGS from the content image, beta 1e4, 40 evaluations at 1/2 size, then iterations (29) at full size)", "security": secured,
                "requestBody": multipart(&[("content", "file", true), ("style", "file", true), ("size", "number", false), ("iterations", "number", false)]),
                "responses": {"202": answer("job id"), "400": errors(), "401": errors(), "429": errors()}}},
            "/v1/jobs/{id}": {"get": {"summary": "Progress of a style job", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": answer("state, step, steps (all levels), iterations, loss, evaluations, preview_step; when done ssim (structure kept) and style_ratio (style carried)"), "404": errors()}}},
            "/v1/jobs/{id}/result.png": {"get": {"summary": "The finished picture", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": errors(), "409": errors()}}},
            "/v1/jobs/{id}/preview.png": {"get": {"summary": "The latest intermediate picture of a style job (every 5 steps; the result once done)", "security": secured,
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": errors(), "409": errors()}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "Enroll, forget, style and the jobs always need the token; the other /v1 routes and /metrics need it when the operator set one (FACESTYLE_TOKEN or --token-file). Without one the server makes a token at start-up and prints it."}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}},
        },
    })
}
