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
        "info": {"title": "facestyle", "version": env!("CARGO_PKG_VERSION"),
            "description": "Face verification, identification and one-shot enrolment (YuNet + SFace), and Gatys style transfer (VGG19)."},
        "paths": {
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": answer("ok")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition"}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {"200": answer("the spec")}}},
            "/v1/verify": {"post": {"summary": "Distance between the largest faces of two photos",
                "requestBody": multipart(&[("a", "file", true), ("b", "file", true), ("metric", "string", false), ("threshold", "number", false)]),
                "responses": {"200": answer("distance, threshold, same"), "400": errors(), "413": errors(), "422": errors()}}},
            "/v1/identify": {"post": {"summary": "Name (or unknown) for every face of a photo",
                "requestBody": multipart(&[("image", "file", true), ("top", "number", false), ("metric", "string", false), ("threshold", "number", false)]),
                "responses": {"200": answer("faces with names"), "400": errors(), "404": errors(), "413": errors()}}},
            "/v1/enroll": {"post": {"summary": "Enroll a person from one or more photos (one transaction)", "security": secured,
                "requestBody": multipart(&[("name", "string", true), ("image", "files", true)]),
                "responses": {"200": answer("enrolled"), "400": errors(), "401": errors(), "413": errors(), "422": errors()}}},
            "/v1/people": {"get": {"summary": "Enrolled people", "responses": {"200": answer("people")}}},
            "/v1/people/{name}": {"delete": {"summary": "Forget a person", "security": secured,
                "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": answer("forgotten"), "401": errors(), "404": errors()}}},
            "/v1/style": {"post": {"summary": "Queue a style transfer (Adam from the content image)", "security": secured,
                "requestBody": multipart(&[("content", "file", true), ("style", "file", true), ("size", "number", false), ("iterations", "number", false)]),
                "responses": {"202": answer("job id"), "400": errors(), "401": errors(), "429": errors()}}},
            "/v1/jobs/{id}": {"get": {"summary": "Progress of a style job",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": answer("state, step, iterations, loss"), "404": errors()}}},
            "/v1/jobs/{id}/result.png": {"get": {"summary": "The finished picture",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "PNG", "content": {"image/png": {}}}, "404": errors(), "409": errors()}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}},
        },
    })
}
