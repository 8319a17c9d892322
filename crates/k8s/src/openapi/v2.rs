//! The Swagger 2.0 (`/openapi/v2`) document, derived from the v3 group documents, and its
//! protobuf encoding.
//!
//! kubectl only reads `/openapi/v2` as protobuf: a serialized `openapi.v2.Document` of
//! `github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto`. The encoder below writes the
//! subset of that message set our documents use (field numbers copied from the `.proto`); values
//! of type `Any` (defaults, enums, vendor extensions) are carried as YAML text, which is how
//! gnostic represents them and what kube-openapi parses.

use serde_json::{Map, Value, json};

use super::schemas::REF_PREFIX;

/// `Content-Type` of the protobuf encoding. Clients ask for it with the older spelling
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but `@` is not allowed in a media
/// type and Go's `mime.ParseMediaType` rejects it in a response, so the kube-apiserver answers with
/// this spelling (`k8s.io/kube-openapi/pkg/handler`).
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// The media types that select the protobuf encoding in an `Accept` header.
pub(super) const V2_PROTOBUF_ACCEPT: &[&str] =
    &["application/com.github.proto-openapi.spec.v2@v1.0+protobuf", V2_PROTOBUF_CONTENT_TYPE];

const V2_REF_PREFIX: &str = "#/definitions/";

/// Merges the v3 group documents into one Swagger 2.0 document.
pub(super) fn from_v3(documents: &[&Value]) -> Value {
    let mut paths = Map::new();
    let mut definitions = Map::new();
    for document in documents {
        if let Some(schemas) = document.pointer("/components/schemas").and_then(Value::as_object) {
            for (name, schema) in schemas {
                definitions.insert(name.clone(), convert_schema(schema));
            }
        }
        if let Some(items) = document.get("paths").and_then(Value::as_object) {
            for (path, item) in items {
                paths.insert(path.clone(), convert_path_item(item));
            }
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Veranda", "version": "v0.1.0"},
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header",
            },
        },
        "security": [{"BearerToken": []}],
    })
}

/// v3 schema → v2 schema: `#/components/schemas/` refs become `#/definitions/`, and the
/// `allOf: [{$ref}]` wrapper (used in v3 to give a reference its own description) becomes a plain
/// `$ref`, because kube-openapi's v2 model treats `allOf` as "anything".
fn convert_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut res = Map::new();
    if let Some(Value::Array(all_of)) = map.get("allOf")
        && let [Value::Object(only)] = all_of.as_slice()
        && let Some(Value::String(target)) = only.get("$ref")
    {
        res.insert("$ref".into(), json!(convert_ref(target)));
    }
    for (key, value) in map {
        match key.as_str() {
            "allOf" if res.contains_key("$ref") => {}
            "default" if res.contains_key("$ref") => {}
            "$ref" => {
                if let Some(target) = value.as_str() {
                    res.insert("$ref".into(), json!(convert_ref(target)));
                }
            }
            "nullable" => {}
            "properties" => {
                let properties: Map<String, Value> = value
                    .as_object()
                    .map(|it| {
                        it.iter().map(|(name, it)| (name.clone(), convert_schema(it))).collect()
                    })
                    .unwrap_or_default();
                res.insert(key.clone(), Value::Object(properties));
            }
            "items" | "additionalProperties" if value.is_object() => {
                res.insert(key.clone(), convert_schema(value));
            }
            "allOf" => {
                let items: Vec<Value> = value
                    .as_array()
                    .map(|it| it.iter().map(convert_schema).collect())
                    .unwrap_or_default();
                res.insert(key.clone(), Value::Array(items));
            }
            _ => {
                res.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(res)
}

fn convert_ref(target: &str) -> String {
    match target.strip_prefix(REF_PREFIX) {
        Some(name) => format!("{V2_REF_PREFIX}{name}"),
        None => target.to_owned(),
    }
}

fn convert_path_item(item: &Value) -> Value {
    let Value::Object(map) = item else { return json!({}) };
    let mut res = Map::new();
    for (key, value) in map {
        if key == "parameters" {
            res.insert(key.clone(), convert_parameters(value));
        } else {
            res.insert(key.clone(), convert_operation(value));
        }
    }
    Value::Object(res)
}

fn convert_operation(operation: &Value) -> Value {
    let Value::Object(map) = operation else { return json!({}) };
    let mut res = Map::new();
    let mut parameters = match map.get("parameters") {
        Some(it) => convert_parameters(it).as_array().cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    if let Some(body) = map.get("requestBody") {
        let content = body.get("content").and_then(Value::as_object);
        let consumes: Vec<&String> = content.map(|it| it.keys().collect()).unwrap_or_default();
        let schema = content
            .and_then(|it| it.values().next())
            .and_then(|it| it.get("schema"))
            .map(convert_schema)
            .unwrap_or_else(|| json!({}));
        parameters
            .insert(0, json!({"name": "body", "in": "body", "required": true, "schema": schema}));
        // `*/*` in v3 is what kube-openapi writes for "any of the serializers"; v2 lists them.
        if consumes.iter().any(|it| it.as_str() == "*/*") {
            res.insert("consumes".into(), json!(["application/json", "application/yaml"]));
        } else {
            res.insert("consumes".into(), json!(consumes));
        }
    } else {
        res.insert("consumes".into(), json!(["*/*"]));
    }
    res.insert("produces".into(), json!(["application/json", "application/yaml"]));
    res.insert("schemes".into(), json!(["https"]));
    for (key, value) in map {
        match key.as_str() {
            "parameters" | "requestBody" => {}
            "responses" => {
                let responses: Map<String, Value> = value
                    .as_object()
                    .map(|it| {
                        it.iter()
                            .map(|(code, response)| {
                                let mut converted = json!({
                                    "description": response.get("description").cloned().unwrap_or(json!("")),
                                });
                                if let Some(schema) = response
                                    .get("content")
                                    .and_then(Value::as_object)
                                    .and_then(|it| it.values().next())
                                    .and_then(|it| it.get("schema"))
                                {
                                    converted["schema"] = convert_schema(schema);
                                }
                                (code.clone(), converted)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                res.insert(key.clone(), Value::Object(responses));
            }
            _ => {
                res.insert(key.clone(), value.clone());
            }
        }
    }
    if !parameters.is_empty() {
        res.insert("parameters".into(), Value::Array(parameters));
    }
    Value::Object(res)
}

/// v3 parameters carry their type in `schema`; v2 parameters carry it inline.
fn convert_parameters(parameters: &Value) -> Value {
    let converted: Vec<Value> = parameters
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|parameter| {
                    let mut res = Map::new();
                    if let Value::Object(map) = parameter {
                        for (key, value) in map {
                            if key == "schema" {
                                if let Value::Object(schema) = value {
                                    res.extend(schema.clone());
                                }
                            } else {
                                res.insert(key.clone(), value.clone());
                            }
                        }
                    }
                    Value::Object(res)
                })
                .collect()
        })
        .unwrap_or_default();
    Value::Array(converted)
}

/// Encodes a Swagger 2.0 JSON document as an `openapi.v2.Document` protobuf message.
pub(super) fn encode_document(document: &Value) -> Vec<u8> {
    let mut res = Vec::new();
    put_string(&mut res, 1, str_at(document, "swagger"));
    if let Some(info) = document.get("info") {
        let mut message = Vec::new();
        put_string(&mut message, 1, str_at(info, "title"));
        put_string(&mut message, 2, str_at(info, "version"));
        put_message(&mut res, 2, &message);
    }
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        let mut message = Vec::new();
        for (path, item) in paths {
            let mut named = Vec::new();
            put_string(&mut named, 1, path);
            put_message(&mut named, 2, &encode_path_item(item));
            put_message(&mut message, 2, &named);
        }
        put_message(&mut res, 8, &message);
    }
    if let Some(definitions) = document.get("definitions").and_then(Value::as_object) {
        let mut message = Vec::new();
        for (name, schema) in definitions {
            put_message(&mut message, 1, &named_schema(name, schema));
        }
        put_message(&mut res, 9, &message);
    }
    res
}

fn encode_path_item(item: &Value) -> Vec<u8> {
    let mut res = Vec::new();
    for (field, method) in [(2, "get"), (3, "put"), (4, "post"), (5, "delete"), (8, "patch")] {
        if let Some(operation) = item.get(method) {
            put_message(&mut res, field, &encode_operation(operation));
        }
    }
    for parameter in item.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        put_message(&mut res, 9, &encode_parameter(parameter));
    }
    res
}

fn encode_operation(operation: &Value) -> Vec<u8> {
    let mut res = Vec::new();
    for tag in strings_at(operation, "tags") {
        put_string(&mut res, 1, tag);
    }
    put_string(&mut res, 3, str_at(operation, "description"));
    put_string(&mut res, 5, str_at(operation, "operationId"));
    for produces in strings_at(operation, "produces") {
        put_string(&mut res, 6, produces);
    }
    for consumes in strings_at(operation, "consumes") {
        put_string(&mut res, 7, consumes);
    }
    for parameter in operation.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        put_message(&mut res, 8, &encode_parameter(parameter));
    }
    if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
        let mut message = Vec::new();
        for (code, response) in responses {
            let mut body = Vec::new();
            put_string(&mut body, 1, str_at(response, "description"));
            if let Some(schema) = response.get("schema") {
                // SchemaItem { oneof { Schema schema = 1; } }
                let mut schema_item = Vec::new();
                put_message(&mut schema_item, 1, &encode_schema(schema));
                put_message(&mut body, 2, &schema_item);
            }
            // ResponseValue { oneof { Response response = 1; } }
            let mut value = Vec::new();
            put_message(&mut value, 1, &body);
            let mut named = Vec::new();
            put_string(&mut named, 1, code);
            put_message(&mut named, 2, &value);
            put_message(&mut message, 1, &named);
        }
        put_message(&mut res, 9, &message);
    }
    for scheme in strings_at(operation, "schemes") {
        put_string(&mut res, 10, scheme);
    }
    put_extensions(&mut res, 13, operation);
    res
}

/// `ParametersItem { oneof { Parameter parameter = 1; } }` around a body, query or path parameter.
fn encode_parameter(parameter: &Value) -> Vec<u8> {
    let location = str_at(parameter, "in");
    let mut inner = Vec::new();
    let parameter_message = if location == "body" {
        // BodyParameter { description = 1; name = 2; in = 3; required = 4; schema = 5; }
        put_string(&mut inner, 1, str_at(parameter, "description"));
        put_string(&mut inner, 2, str_at(parameter, "name"));
        put_string(&mut inner, 3, location);
        put_bool(&mut inner, 4, bool_at(parameter, "required"));
        if let Some(schema) = parameter.get("schema") {
            put_message(&mut inner, 5, &encode_schema(schema));
        }
        let mut res = Vec::new();
        put_message(&mut res, 1, &inner);
        res
    } else {
        // QueryParameterSubSchema { required = 1; in = 2; description = 3; name = 4; type = 6;
        // unique_items = 20; } and PathParameterSubSchema { ...; type = 5; unique_items = 19; }.
        let (sub_field, type_field, unique_field) =
            if location == "path" { (4, 5, 19) } else { (3, 6, 20) };
        put_bool(&mut inner, 1, bool_at(parameter, "required"));
        put_string(&mut inner, 2, location);
        put_string(&mut inner, 3, str_at(parameter, "description"));
        put_string(&mut inner, 4, str_at(parameter, "name"));
        put_string(&mut inner, type_field, str_at(parameter, "type"));
        put_bool(&mut inner, unique_field, bool_at(parameter, "uniqueItems"));
        let mut non_body = Vec::new();
        put_message(&mut non_body, sub_field, &inner);
        let mut res = Vec::new();
        put_message(&mut res, 2, &non_body);
        res
    };
    let mut res = Vec::new();
    put_message(&mut res, 1, &parameter_message);
    res
}

fn named_schema(name: &str, schema: &Value) -> Vec<u8> {
    let mut res = Vec::new();
    put_string(&mut res, 1, name);
    put_message(&mut res, 2, &encode_schema(schema));
    res
}

/// `openapi.v2.Schema`.
fn encode_schema(schema: &Value) -> Vec<u8> {
    let mut res = Vec::new();
    put_string(&mut res, 1, str_at(schema, "$ref"));
    put_string(&mut res, 2, str_at(schema, "format"));
    put_string(&mut res, 3, str_at(schema, "title"));
    put_string(&mut res, 4, str_at(schema, "description"));
    if let Some(default) = schema.get("default") {
        put_message(&mut res, 5, &encode_any(default));
    }
    if let Some(max_length) = schema.get("maxLength").and_then(Value::as_i64) {
        put_varint_field(&mut res, 11, max_length as u64);
    }
    if let Some(min_length) = schema.get("minLength").and_then(Value::as_i64) {
        put_varint_field(&mut res, 12, min_length as u64);
    }
    put_string(&mut res, 13, str_at(schema, "pattern"));
    put_bool(&mut res, 16, bool_at(schema, "uniqueItems"));
    for required in strings_at(schema, "required") {
        put_string(&mut res, 19, required);
    }
    for value in schema.get("enum").and_then(Value::as_array).into_iter().flatten() {
        put_message(&mut res, 20, &encode_any(value));
    }
    match schema.get("additionalProperties") {
        // AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }
        Some(Value::Object(_)) => {
            let mut item = Vec::new();
            if let Some(additional) = schema.get("additionalProperties") {
                put_message(&mut item, 1, &encode_schema(additional));
            }
            put_message(&mut res, 21, &item);
        }
        Some(Value::Bool(allowed)) => {
            let mut item = Vec::new();
            put_tag(&mut item, 2, 0);
            put_varint(&mut item, u64::from(*allowed));
            put_message(&mut res, 21, &item);
        }
        _ => {}
    }
    if let Some(type_name) = schema.get("type").and_then(Value::as_str) {
        // TypeItem { repeated string value = 1; }
        let mut item = Vec::new();
        put_string(&mut item, 1, type_name);
        put_message(&mut res, 22, &item);
    }
    if let Some(items) = schema.get("items") {
        // ItemsItem { repeated Schema schema = 1; }
        let mut item = Vec::new();
        put_message(&mut item, 1, &encode_schema(items));
        put_message(&mut res, 23, &item);
    }
    for member in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        put_message(&mut res, 24, &encode_schema(member));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        // Properties { repeated NamedSchema additional_properties = 1; }
        let mut message = Vec::new();
        for (name, property) in properties {
            put_message(&mut message, 1, &named_schema(name, property));
        }
        put_message(&mut res, 25, &message);
    }
    put_extensions(&mut res, 31, schema);
    res
}

/// `repeated NamedAny vendor_extension` for every `x-` key of `object`.
fn put_extensions(out: &mut Vec<u8>, field: u32, object: &Value) {
    let Some(map) = object.as_object() else { return };
    for (key, value) in map.iter().filter(|(key, _)| key.starts_with("x-")) {
        let mut named = Vec::new();
        put_string(&mut named, 1, key);
        put_message(&mut named, 2, &encode_any(value));
        put_message(out, field, &named);
    }
}

/// `openapi.v2.Any { string yaml = 2; }`. JSON is YAML, so the value's JSON text is used.
fn encode_any(value: &Value) -> Vec<u8> {
    let mut res = Vec::new();
    let text = value.to_string();
    put_tag(&mut res, 2, 2);
    put_varint(&mut res, text.len() as u64);
    res.extend_from_slice(text.as_bytes());
    res
}

fn str_at<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn bool_at(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings_at<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    value.get(key).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// Proto3 omits empty strings.
fn put_string(out: &mut Vec<u8>, field: u32, text: &str) {
    if text.is_empty() {
        return;
    }
    put_tag(out, field, 2);
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Embedded messages are written even when empty, so that their presence is kept.
fn put_message(out: &mut Vec<u8>, field: u32, message: &[u8]) {
    put_tag(out, field, 2);
    put_varint(out, message.len() as u64);
    out.extend_from_slice(message);
}

fn put_bool(out: &mut Vec<u8>, field: u32, value: bool) {
    if value {
        put_varint_field(out, field, 1);
    }
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, value: u64) {
    put_tag(out, field, 0);
    put_varint(out, value);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u32) {
    put_varint(out, u64::from((field << 3) | wire_type));
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}
