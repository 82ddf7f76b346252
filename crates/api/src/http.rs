//! The request as the handlers see it, and the response they build.

use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::{Value, json};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::error::{ApiError, EdgeError, ErrorKind};
use latch_core::model::truncate;

/// A parsed request: the effective method (after `_method`), the path, query
/// and body parameters, and the headers.
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Body,
    pub remote: Option<SocketAddr>,
}

/// The longest value one parameter may have. Identifiers, passwords and codes
/// have tighter limits of their own; this one bounds every other field.
pub const MAX_PARAM_BYTES: usize = 4096;

fn check_size(name: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_PARAM_BYTES {
        return Err(ApiError::param_value_invalid(
            name,
            format!("{name} must be at most {MAX_PARAM_BYTES} bytes long."),
        ));
    }
    Ok(())
}

/// Query parameters that are lists (`k=a&k=b` or `k[]=a&k[]=b`), read with
/// [`ApiRequest::query_all`]; any other parameter given twice with two
/// values is refused rather than one of them picked.
pub const LIST_QUERY_PARAMS: &[&str] = &[
    "user_id",
    "email_address",
    "phone_number",
    "username",
    "external_id",
];

/// Form fields that are lists, read with [`ApiRequest::param_list`].
pub const LIST_BODY_PARAMS: &[&str] = &[
    "email_address",
    "phone_number",
    "backup_codes",
    "event_types",
];

/// Query parameters that carry a credential: given twice with two values,
/// the request is not authenticated at all.
const CREDENTIAL_QUERY_PARAMS: &[&str] = &["__clerk_db_jwt", "rotating_token_nonce"];

/// Headers read as one value; sent twice with two values, which one counts
/// would be a guess.
const SINGLE_HEADERS: &[header::HeaderName] = &[header::HOST, header::ORIGIN, header::CONTENT_TYPE];

/// Refuses a key given more than once with different values, unless `lists`
/// names it (or it ends in `[]`); `credentials` are refused as
/// unauthenticated.
fn refuse_ambiguous(
    pairs: &[(String, String)],
    lists: &[&str],
    credentials: &[&'static str],
) -> Result<(), ApiError> {
    for (i, (key, value)) in pairs.iter().enumerate() {
        if key.ends_with("[]") || lists.contains(&key.as_str()) {
            continue;
        }
        let twice = pairs[i + 1..].iter().any(|(k, v)| k == key && v != value);
        if !twice {
            continue;
        }
        if let Some(name) = credentials.iter().find(|c| **c == key) {
            return Err(EdgeError::AmbiguousCredential(name).into());
        }
        return Err(given_twice(key));
    }
    Ok(())
}

fn given_twice(key: &str) -> ApiError {
    let key = truncate(key);
    ApiError::param_value_invalid(
        &key,
        format!("{key} is given more than once; give it once."),
    )
}

/// A request body: form fields, a JSON document, or nothing.
pub enum Body {
    Empty,
    Form(Vec<(String, String)>),
    Json(Value),
}

impl ApiRequest {
    pub fn parse(
        method: Method,
        path: String,
        raw_query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        remote: Option<SocketAddr>,
    ) -> Result<Self, ApiError> {
        let query: Vec<(String, String)> = match raw_query.as_deref() {
            Some(q) => serde_urlencoded::from_str(q).map_err(|_| {
                ApiError::param_format_invalid("query", "The query string is malformed.")
            })?,
            None => Vec::new(),
        };
        refuse_ambiguous(&query, LIST_QUERY_PARAMS, CREDENTIAL_QUERY_PARAMS)?;
        refuse_ambiguous_headers(&headers)?;
        // Browsers and clerk-js send PATCH/PUT/DELETE as POST with `_method`.
        let method = match (method, query.iter().find(|(k, _)| k == "_method")) {
            (Method::POST, Some((_, m))) => match m.to_ascii_uppercase().as_str() {
                "PATCH" => Method::PATCH,
                "PUT" => Method::PUT,
                "DELETE" => Method::DELETE,
                "POST" => Method::POST,
                _ => {
                    return Err(ApiError::param_value_invalid(
                        "_method",
                        "_method must be PATCH, PUT or DELETE.",
                    ));
                }
            },
            (m, _) => m,
        };
        let body = parse_body(&headers, &body)?;
        Ok(Self {
            method,
            path,
            query,
            headers,
            body,
            remote,
        })
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter (`k=a&k=b` or `k[]=a&k[]=b`).
    pub fn query_all(&self, name: &str) -> Vec<String> {
        debug_assert!(LIST_QUERY_PARAMS.contains(&name), "{name} is no list");
        let bracketed = format!("{name}[]");
        self.query
            .iter()
            .filter(|(k, _)| k == name || *k == bracketed)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A cookie's value. A cookie sent twice with two values (one planted
    /// from a sibling domain or for a narrower path beside the browser's
    /// own) is refused: neither can be told to be the real one.
    pub fn cookie(&self, name: &'static str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then_some(v)
            });
        let first = values.next();
        if let Some(first) = first
            && values.any(|v| v != first)
        {
            return Err(EdgeError::AmbiguousCredential(name).into());
        }
        Ok(first)
    }

    /// A body parameter as a string: a form field, or a JSON string, number
    /// or bool, at most [`MAX_PARAM_BYTES`] long.
    pub fn param(&self, name: &str) -> Result<Option<String>, ApiError> {
        let value = self.raw_param(name)?;
        if let Some(v) = &value {
            check_size(name, v)?;
        }
        Ok(value)
    }

    fn raw_param(&self, name: &str) -> Result<Option<String>, ApiError> {
        match &self.body {
            Body::Empty => Ok(None),
            Body::Form(fields) => Ok(fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())),
            Body::Json(doc) => match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(ApiError::param_format_invalid(
                    name,
                    format!("{name} must be a string."),
                )),
            },
        }
    }

    /// A parameter that may be a string or a list of strings, each at most
    /// [`MAX_PARAM_BYTES`] long.
    pub fn param_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let values = self.raw_param_list(name)?;
        for v in &values {
            check_size(name, v)?;
        }
        Ok(values)
    }

    fn raw_param_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        debug_assert!(LIST_BODY_PARAMS.contains(&name), "{name} is no list");
        match &self.body {
            Body::Empty => Ok(Vec::new()),
            Body::Form(fields) => {
                let bracketed = format!("{name}[]");
                Ok(fields
                    .iter()
                    .filter(|(k, _)| k == name || *k == bracketed)
                    .map(|(_, v)| v.clone())
                    .collect())
            }
            Body::Json(doc) => match doc.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| {
                            ApiError::param_format_invalid(
                                name,
                                format!("{name} must be a list of strings."),
                            )
                        })
                    })
                    .collect(),
                Some(_) => Err(ApiError::param_format_invalid(
                    name,
                    format!("{name} must be a list of strings."),
                )),
            },
        }
    }

    pub fn param_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.param(name)?.as_deref() {
            None | Some("") => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(_) => Err(ApiError::param_format_invalid(
                name,
                format!("{name} must be true or false."),
            )),
        }
    }

    /// A JSON object parameter (metadata); form bodies carry it as JSON text.
    pub fn param_object(&self, name: &str) -> Result<Option<Value>, ApiError> {
        let invalid =
            || ApiError::param_format_invalid(name, format!("{name} must be a JSON object."));
        match &self.body {
            Body::Json(doc) => match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
                Some(_) => Err(invalid()),
            },
            _ => match self.param(name)? {
                None => Ok(None),
                Some(text) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .map(Some)
                    .ok_or_else(invalid),
            },
        }
    }

    /// Whether the body has this key at all (JSON `null` included), for
    /// updates where `null` clears a field.
    pub fn has_param(&self, name: &str) -> bool {
        match &self.body {
            Body::Empty => false,
            Body::Form(fields) => {
                let bracketed = format!("{name}[]");
                fields.iter().any(|(k, _)| k == name || *k == bracketed)
            }
            Body::Json(doc) => doc.get(name).is_some(),
        }
    }
}

/// A credential header (`authorization`) or one read as a single value,
/// sent twice with two values, is refused.
fn refuse_ambiguous_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    let twice = |name: &header::HeaderName| {
        let mut values = headers.get_all(name).iter();
        values
            .next()
            .is_some_and(|first| values.any(|v| v != first))
    };
    if twice(&header::AUTHORIZATION) {
        return Err(EdgeError::AmbiguousCredential("authorization").into());
    }
    match SINGLE_HEADERS.iter().find(|name| twice(name)) {
        Some(name) => Err(given_twice(name.as_str())),
        None => Ok(()),
    }
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Body, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::Empty);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let doc = distinct_keys::parse(body).map_err(|err| match err {
            distinct_keys::Refused::Twice(key) => given_twice(&key),
            distinct_keys::Refused::Invalid => {
                ApiError::param_format_invalid("body", "The request body is not valid JSON.")
            }
        })?;
        if !doc.is_object() {
            return Err(ApiError::param_format_invalid(
                "body",
                "The request body must be a JSON object.",
            ));
        }
        Ok(Body::Json(doc))
    } else {
        // clerk-js sends forms; a missing content type is read as a form too.
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            ApiError::param_format_invalid("body", "The request body is not a valid form.")
        })?;
        refuse_ambiguous(&fields, LIST_BODY_PARAMS, &[])?;
        Ok(Body::Form(fields))
    }
}

/// JSON documents whose objects name each key once: serde_json keeps the
/// last of two, another parser the first, so a document with both is
/// refused rather than read one way here and another way elsewhere.
mod distinct_keys {
    use std::cell::RefCell;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};

    pub enum Refused {
        /// This key is in one object twice.
        Twice(String),
        Invalid,
    }

    pub fn parse(bytes: &[u8]) -> Result<Value, Refused> {
        let twice = RefCell::new(None);
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let parsed = Checked(&twice)
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v));
        match (parsed, twice.into_inner()) {
            (Ok(value), _) => Ok(value),
            (Err(_), Some(key)) => Err(Refused::Twice(key)),
            (Err(_), None) => Err(Refused::Invalid),
        }
    }

    /// Builds a `Value`, noting the first key found twice in one object.
    #[derive(Clone, Copy)]
    struct Checked<'a>(&'a RefCell<Option<String>>);

    impl<'de> DeserializeSeed<'de> for Checked<'_> {
        type Value = Value;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Checked<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(v.into())
        }

        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(v.into())
        }

        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }

        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }

        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element_seed(self)? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let value = map.next_value_seed(self)?;
                if object.contains_key(&key) {
                    let error =
                        <A::Error as de::Error>::custom(format_args!("{key} is given twice"));
                    *self.0.borrow_mut() = Some(key);
                    return Err(error);
                }
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
}

/// A response: status, JSON body and extra headers.
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// A body serialised already, sent instead of `body` when set: JSON,
    /// unless `headers` names another content type.
    pub text: Option<String>,
    /// A body of bytes (a script, maybe compressed), sent instead of both;
    /// `headers` name its content type.
    pub bytes: Option<Bytes>,
    pub headers: HeaderMap,
}

impl ApiResponse {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            text: None,
            bytes: None,
            headers: HeaderMap::new(),
        }
    }

    /// A JSON body given as text, for answers assembled from parts that
    /// were serialised once.
    pub fn json_text(status: StatusCode, text: String) -> Self {
        Self {
            status,
            body: None,
            text: Some(text),
            bytes: None,
            headers: HeaderMap::new(),
        }
    }

    /// A body that is not JSON (a picture), with its content type.
    pub fn content(status: StatusCode, content_type: &'static str, text: String) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Self {
            status,
            body: None,
            text: Some(text),
            bytes: None,
            headers,
        }
    }

    /// A body of bytes; the caller names its content type.
    pub fn bytes(status: StatusCode, bytes: Bytes) -> Self {
        Self {
            status,
            body: None,
            text: None,
            bytes: Some(bytes),
            headers: HeaderMap::new(),
        }
    }

    pub fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            text: None,
            bytes: None,
            headers: HeaderMap::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }

    /// Clerk's error envelope.
    pub fn error(err: &ApiError, trace_id: &str) -> Self {
        let status = status_of(err.kind);
        let mut entry = json!({
            "code": err.code.as_str(),
            "message": err.message,
            "long_message": err.long_message,
        });
        let mut meta = serde_json::Map::new();
        if let Some(param) = &err.param_name {
            meta.insert("param_name".into(), Value::String(param.clone()));
        }
        for (key, value) in &err.meta {
            meta.insert((*key).to_owned(), value.clone());
        }
        entry["meta"] = Value::Object(meta);
        let mut resp = Self::json(
            status,
            json!({ "errors": [entry], "clerk_trace_id": trace_id }),
        );
        match err.kind {
            ErrorKind::TooManyRequests { retry_after_secs } => {
                resp = resp.with_header(header::RETRY_AFTER, &retry_after_secs.to_string());
            }
            // The rest of the body may still be on its way: the connection
            // cannot carry another request.
            ErrorKind::RequestTimeout => resp = resp.with_header(header::CONNECTION, "close"),
            _ => {}
        }
        resp
    }

    pub fn into_warp(self) -> warp::reply::Response {
        let text = self.text.or_else(|| self.body.map(|b| b.to_string()));
        let mut response = match (self.bytes, text) {
            (Some(bytes), _) => warp::reply::Response::new(bytes.into()),
            (None, Some(text)) => {
                let mut r = warp::reply::Response::new(text.into());
                // @clerk/backend parses only an exact `application/json`.
                if !self.headers.contains_key(header::CONTENT_TYPE) {
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                r
            }
            (None, None) => warp::reply::Response::new(Default::default()),
        };
        *response.status_mut() = self.status;
        for (name, value) in self.headers.iter() {
            response.headers_mut().append(name, value.clone());
        }
        response
    }
}

/// The one place where error kinds become HTTP statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn json(text: &str) -> Result<Value, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match parse_body(&headers, &Bytes::copy_from_slice(text.as_bytes()))? {
            Body::Json(doc) => Ok(doc),
            _ => Err(ApiError::internal("not JSON")),
        }
    }

    fn refused_param(result: Result<Value, ApiError>) -> Option<String> {
        result.err().and_then(|e| e.param_name)
    }

    #[test]
    fn json_documents_read_as_serde_json_reads_them_when_keys_are_distinct() {
        for text in [
            r#"{"a":1,"b":[1,-2,3.5,{"a":null}],"c":{"a":true,"d":"x"},"e":18446744073709551615}"#,
            r#"{"a":{"a":{"a":{}}}}"#,
            r#"{}"#,
        ] {
            let expected: Value = serde_json::from_str(text).unwrap_or_default();
            assert_eq!(json(text).ok(), Some(expected), "{text}");
        }
    }

    #[test]
    fn a_key_twice_in_one_object_is_refused_wherever_the_object_is() {
        for (text, key) in [
            (r#"{"a":1,"a":1}"#, "a"),
            (r#"{"a":{"b":1,"b":2}}"#, "b"),
            (r#"{"a":[{"c":1},{"c":1,"c":2}]}"#, "c"),
        ] {
            assert_eq!(refused_param(json(text)).as_deref(), Some(key), "{text}");
        }
        // Malformed, or nested past serde_json's depth limit: not JSON.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        for text in [r#"{"a":"#, r#"{"a":1}x"#, deep.as_str()] {
            assert_eq!(refused_param(json(text)).as_deref(), Some("body"), "{text}");
        }
    }

    #[test]
    fn only_list_keys_may_repeat_with_different_values() {
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let check = |list: &[(&str, &str)]| {
            refuse_ambiguous(&pairs(list), LIST_BODY_PARAMS, &["tok"])
                .err()
                .map(|e| (e.code, e.param_name))
        };
        assert_eq!(check(&[("a", "1"), ("b", "1"), ("a", "1")]), None);
        assert_eq!(
            check(&[("email_address", "1"), ("email_address", "2")]),
            None
        );
        assert_eq!(check(&[("x[]", "1"), ("x[]", "2")]), None);
        assert_eq!(
            check(&[("a", "1"), ("a", "2")]),
            Some((ErrorCode::FormParamValueInvalid, Some("a".into())))
        );
        assert_eq!(
            check(&[("tok", "1"), ("tok", "2")]),
            Some((ErrorCode::AuthenticationInvalid, Some("tok".into())))
        );
        // A long key is echoed cut short.
        let long = "k".repeat(500);
        let refused = check(&[(&long, "1"), (&long, "2")]).and_then(|(_, p)| p);
        assert_eq!(
            refused.map(|p| p.len()),
            Some(latch_core::model::ECHO_MAX_CHARS)
        );
    }
}
