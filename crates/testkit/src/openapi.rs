//! Checks JSON response bodies against an OpenAPI 3.0 document.
//!
//! A [`Document`] is read once ([`Document::fapi`] and [`Document::bapi`] are
//! Clerk's, from `tests/data/clerk-openapi/`). [`Document::operation`] finds
//! the operation of a method and a path template as Latch's route table
//! writes it: segments are compared by shape, so `/v1/client/sign_ins/{id}`
//! is the document's `/v1/client/sign_ins/{sign_in_id}`, and the path of the
//! document's first server (`/v1` for the Backend API) is a prefix.
//!
//! The schema keywords checked: local `$ref`, `type` (an integer is a JSON
//! number written without a fraction or exponent), `nullable`, `enum`,
//! `properties`, `required`, `additionalProperties`, `items`, `allOf`,
//! `anyOf`, `oneOf` (exactly one, or the one `discriminator` names), and
//! `format` `int32`/`int64`. Every other keyword (`pattern`, `minLength`,
//! `not`...) is ignored. Every failure is collected, with its JSON path.

use std::fmt;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Map, Value};

/// Where Clerk's documents are kept, from the repository's root.
const CLERK_DOCUMENTS: &str = "tests/data/clerk-openapi";

/// Nesting deeper than this is taken for a schema that never ends.
const MAX_DEPTH: usize = 128;

/// An OpenAPI 3.0 document, parsed.
#[derive(Debug)]
pub struct Document {
    name: String,
    root: Value,
    /// The path of the first server's URL (`/v1`), which operations' paths omit.
    prefix: String,
}

/// One operation of a [`Document`]: a method on one of its paths.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'d> {
    document: &'d Document,
    method: &'d str,
    path: &'d str,
    node: &'d Value,
}

/// What is wrong at one place in a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The value's JSON type is not the schema's.
    Type {
        /// The schema's `type`.
        expected: String,
        /// The value's type, as JSON names it (`integer` for whole numbers).
        found: &'static str,
    },
    /// `null` where the schema is not `nullable`.
    Null {
        /// The schema's `type`, if it has one.
        expected: Option<String>,
    },
    /// A value the schema's `enum` does not list.
    Enum {
        /// The value found.
        value: Value,
        /// The values the schema lists.
        allowed: Vec<Value>,
    },
    /// A `required` property is absent.
    Missing(String),
    /// A property `additionalProperties: false` does not allow.
    NotAllowed(String),
    /// A number outside its `format` (`int32`, `int64`).
    Format {
        /// The schema's `format`.
        format: String,
        /// The number found.
        value: Value,
    },
    /// No alternative of an `anyOf` or `oneOf` matches.
    NoAlternative {
        /// `anyOf` or `oneOf`.
        keyword: &'static str,
        /// How many alternatives there are.
        count: usize,
        /// The alternative with the fewest failures, named by its `$ref`.
        nearest: String,
        /// The failures of that alternative.
        failures: Vec<Failure>,
    },
    /// More than one alternative of a `oneOf` matches.
    Ambiguous {
        /// The alternatives that match, named by their `$ref`.
        matched: Vec<String>,
    },
    /// The `discriminator` names no alternative for this value.
    Discriminator {
        /// The discriminating property.
        property: String,
        /// Its value, if it is a string.
        value: Option<String>,
    },
    /// A `$ref` that does not resolve, or that leads back to itself.
    BadRef(String),
    /// The document has no operation for this method and path.
    NoOperation,
    /// The operation lists no response for this status, and no `default`.
    UndocumentedStatus {
        /// The statuses the operation lists.
        documented: Vec<String>,
    },
    /// A body where the response documents no JSON content.
    UnexpectedBody,
    /// No body where the response documents JSON content.
    MissingBody,
}

/// One failure: where in the body, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The JSON path of the value, from `$`.
    pub path: String,
    /// What is wrong with it.
    pub problem: Problem,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Type { expected, found } => write!(f, "{found}, expected {expected}"),
            Problem::Null { expected: Some(t) } => write!(f, "null, expected {t}"),
            Problem::Null { expected: None } => write!(f, "null, not nullable"),
            Problem::Enum { value, allowed } => {
                let allowed: Vec<String> = allowed.iter().map(Value::to_string).collect();
                write!(f, "{value} is not one of [{}]", allowed.join(", "))
            }
            Problem::Missing(name) => write!(f, "missing required \"{name}\""),
            Problem::NotAllowed(name) => write!(f, "property \"{name}\" is not allowed"),
            Problem::Format { format, value } => write!(f, "{value} is not a valid {format}"),
            Problem::NoAlternative {
                keyword,
                count,
                nearest,
                failures,
            } => {
                write!(
                    f,
                    "matches none of the {count} {keyword} alternatives; nearest {nearest}: "
                )?;
                let failures: Vec<String> = failures.iter().map(Failure::to_string).collect();
                write!(f, "{}", failures.join("; "))
            }
            Problem::Ambiguous { matched } => write!(
                f,
                "matches {} oneOf alternatives ({}), exactly one expected",
                matched.len(),
                matched.join(", ")
            ),
            Problem::Discriminator {
                property,
                value: Some(value),
            } => write!(
                f,
                "discriminator \"{property}\" = \"{value}\" names no alternative"
            ),
            Problem::Discriminator {
                property,
                value: None,
            } => write!(f, "discriminator \"{property}\" is not a string"),
            Problem::BadRef(r) => write!(f, "bad $ref {r}"),
            Problem::NoOperation => write!(f, "no such operation in the document"),
            Problem::UndocumentedStatus { documented } => write!(
                f,
                "status not documented (documented: {})",
                documented.join(", ")
            ),
            Problem::UnexpectedBody => write!(f, "a body where none is documented"),
            Problem::MissingBody => write!(f, "no body where JSON is documented"),
        }
    }
}

/// Which failures a check lets pass: a documented exception says yes.
pub type Allowance<'a> = &'a dyn Fn(&Failure) -> bool;

/// Lets no failure pass.
pub fn strict(_: &Failure) -> bool {
    false
}

impl Document {
    /// Clerk's Frontend API document (2026-05-12), read once.
    pub fn fapi() -> &'static Document {
        static DOC: OnceLock<Document> = OnceLock::new();
        DOC.get_or_init(|| clerk_document("fapi-2026-05-12.yml"))
    }

    /// Clerk's Backend API document (2026-05-12), read once.
    pub fn bapi() -> &'static Document {
        static DOC: OnceLock<Document> = OnceLock::new();
        DOC.get_or_init(|| clerk_document("bapi-2026-05-12.yml"))
    }

    /// Reads a document from YAML (or JSON) text; `name` labels it in messages.
    pub fn parse(name: &str, text: &str) -> Result<Document, String> {
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        let root = to_json(yaml);
        if !root.get("paths").is_some_and(Value::is_object) {
            return Err(format!("{name}: no paths"));
        }
        let prefix = root
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .map(server_path)
            .unwrap_or_default();
        Ok(Document {
            name: name.to_owned(),
            root,
            prefix,
        })
    }

    /// The document's label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operation for `method` on `template` (`{name}` for a parameter;
    /// parameter names need not match the document's).
    pub fn operation(&self, method: &str, template: &str) -> Option<Operation<'_>> {
        let template = template
            .strip_prefix(self.prefix.as_str())
            .filter(|rest| !self.prefix.is_empty() && rest.starts_with('/'))
            .unwrap_or(template);
        let wanted = shape(template);
        let method = method.to_ascii_lowercase();
        let paths = self.root.get("paths")?.as_object()?;
        paths.iter().find_map(|(path, item)| {
            if shape(path) != wanted {
                return None;
            }
            let (method, node) = item.as_object()?.get_key_value(method.as_str())?;
            Some(Operation {
                document: self,
                method,
                path,
                node,
            })
        })
    }

    /// The schema `components/schemas/{name}`.
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.root.get("components")?.get("schemas")?.get(name)
    }

    /// Checks `value` against `schema` (a node of this document, whose
    /// `$ref`s resolve in it); failures `allow` accepts are dropped.
    pub fn validate(&self, schema: &Value, value: &Value, allow: Allowance<'_>) -> Vec<Failure> {
        let mut checker = Checker {
            document: self,
            allow,
            active: Vec::new(),
        };
        let mut out = Vec::new();
        checker.check(schema, value, "$", 0, &mut out);
        out
    }

    /// Checks a response: one readable line per failure, each starting with
    /// `METHOD TEMPLATE STATUS`.
    pub fn check_response(
        &self,
        method: &str,
        template: &str,
        status: u16,
        body: &Value,
        allow: Allowance<'_>,
    ) -> Vec<String> {
        let failures = match self.operation(method, template) {
            Some(op) => op.check(status, body, allow),
            None => vec![Failure {
                path: "$".into(),
                problem: Problem::NoOperation,
            }],
        };
        failures
            .iter()
            .map(|f| format!("{method} {template} {status} {f}"))
            .collect()
    }

    /// Follows a local `$ref` (`#/components/...`).
    fn resolve(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// `node`, or what its `$ref` leads to (through any number of refs).
    fn follow<'a>(&'a self, mut node: &'a Value) -> Option<&'a Value> {
        for _ in 0..MAX_DEPTH {
            match node.get("$ref").and_then(Value::as_str) {
                Some(r) => node = self.resolve(r)?,
                None => return Some(node),
            }
        }
        None
    }
}

impl<'d> Operation<'d> {
    /// The path as the document writes it.
    pub fn path(&self) -> &'d str {
        self.path
    }

    /// The method, lower case as the document writes it.
    pub fn method(&self) -> &'d str {
        self.method
    }

    /// The statuses the operation lists (`200`, `4XX`, `default`...).
    pub fn statuses(&self) -> Vec<String> {
        self.responses()
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn responses(&self) -> Option<&'d Map<String, Value>> {
        self.node.get("responses")?.as_object()
    }

    /// The response object for `status`: its exact code, else its class
    /// (`4XX`), else `default`; `$ref` followed.
    pub fn response(&self, status: u16) -> Option<&'d Value> {
        let responses = self.responses()?;
        let exact = status.to_string();
        let class = format!("{}XX", status / 100);
        let node = responses
            .get(&exact)
            .or_else(|| {
                responses
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&class))
                    .map(|(_, v)| v)
            })
            .or_else(|| responses.get("default"))?;
        self.document.follow(node)
    }

    /// The `application/json` schema of the response for `status`, if it documents one.
    pub fn json_schema(&self, status: u16) -> Option<&'d Value> {
        let content = self.response(status)?.get("content")?.as_object()?;
        content
            .iter()
            .find(|(media, _)| {
                media
                    .split(';')
                    .next()
                    .is_some_and(|m| m.trim() == "application/json")
            })
            .and_then(|(_, media)| media.get("schema"))
    }

    /// Checks a response's body (`Value::Null` for none) against the operation.
    pub fn check(&self, status: u16, body: &Value, allow: Allowance<'_>) -> Vec<Failure> {
        let at_root = |problem| {
            vec![Failure {
                path: "$".into(),
                problem,
            }]
        };
        if self.response(status).is_none() {
            return at_root(Problem::UndocumentedStatus {
                documented: self.statuses(),
            });
        }
        match (self.json_schema(status), body) {
            (Some(_), Value::Null) => at_root(Problem::MissingBody),
            (Some(schema), body) => self.document.validate(schema, body, allow),
            (None, Value::Null) => Vec::new(),
            (None, _) => at_root(Problem::UnexpectedBody),
        }
    }
}

/// Reads one of Clerk's documents; they are the tests' data, so a missing
/// one stops the test.
fn clerk_document(file: &str) -> Document {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = root.join(CLERK_DOCUMENTS).join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Document::parse(file, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The path part of a server URL (`https://api.clerk.com/v1` is `/v1`).
fn server_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

/// A path's segments, every parameter written `{}`.
fn shape(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "{}"
            } else {
                s
            }
        })
        .collect()
}

/// YAML to JSON; mapping keys that are not strings (`200:`) become their text.
fn to_json(yaml: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect(),
        ),
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

fn key_text(key: serde_yaml::Value) -> String {
    match to_json(key) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// The JSON path of `key` inside `parent`.
fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!("{parent}[{}]", Value::String(key.to_owned()))
    }
}

/// The name of a JSON value's type; whole numbers are `integer`.
fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    let found = type_of(value);
    found == expected || (expected == "number" && found == "integer")
}

/// The name of an alternative for messages: its `$ref`'s last part, or its place.
fn alternative_name(schema: &Value, index: usize) -> String {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
        .map_or_else(|| format!("#{index}"), str::to_owned)
}

/// How far an alternative is from matching: its failures, and far more
/// when the value is not even of its type.
fn distance(path: &str, failures: &[Failure]) -> usize {
    let wrong_type = failures.iter().any(|f| {
        f.path == path && matches!(f.problem, Problem::Type { .. } | Problem::Null { .. })
    });
    failures.len() + if wrong_type { 1000 } else { 0 }
}

struct Checker<'a> {
    document: &'a Document,
    allow: Allowance<'a>,
    /// The `$ref`s being followed and the JSON path each was entered at: a
    /// ref entered again at the same path would never end.
    active: Vec<(String, String)>,
}

impl Checker<'_> {
    fn fail(&self, out: &mut Vec<Failure>, path: &str, problem: Problem) {
        let failure = Failure {
            path: path.to_owned(),
            problem,
        };
        if !(self.allow)(&failure) {
            out.push(failure);
        }
    }

    fn check(
        &mut self,
        schema: &Value,
        value: &Value,
        path: &str,
        depth: usize,
        out: &mut Vec<Failure>,
    ) {
        if depth > MAX_DEPTH {
            self.fail(out, path, Problem::BadRef("nesting too deep".into()));
            return;
        }
        let Some(schema) = schema.as_object() else {
            // `true`/`false` schemas are not OpenAPI 3.0; anything else is no constraint.
            return;
        };
        if let Some(reference) = schema.get("$ref") {
            let reference = reference.as_str().unwrap_or_default().to_owned();
            let key = (reference.clone(), path.to_owned());
            if self.active.contains(&key) {
                self.fail(
                    out,
                    path,
                    Problem::BadRef(format!("{reference} (circular)")),
                );
                return;
            }
            let Some(target) = self.document.resolve(&reference) else {
                self.fail(out, path, Problem::BadRef(reference));
                return;
            };
            self.active.push(key);
            self.check(target, value, path, depth + 1, out);
            self.active.pop();
            // In OpenAPI 3.0 a `$ref`'s siblings are ignored.
            return;
        }
        let declared = schema.get("type").and_then(Value::as_str);
        if value.is_null() {
            if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
                return;
            }
            if declared.is_some() || schema.contains_key("enum") {
                let expected = declared.map(str::to_owned);
                self.fail(out, path, Problem::Null { expected });
                return;
            }
        } else if let Some(expected) = declared
            && !type_matches(expected, value)
        {
            let found = type_of(value);
            let expected = expected.to_owned();
            self.fail(out, path, Problem::Type { expected, found });
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let problem = Problem::Enum {
                value: value.clone(),
                allowed: allowed.clone(),
            };
            self.fail(out, path, problem);
        }
        if let (Some(format), Value::Number(n)) =
            (schema.get("format").and_then(Value::as_str), value)
        {
            let fits = match format {
                "int64" => n.as_i64().is_some(),
                "int32" => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                _ => true,
            };
            if !fits {
                let problem = Problem::Format {
                    format: format.to_owned(),
                    value: value.clone(),
                };
                self.fail(out, path, problem);
            }
        }
        if let Value::Object(object) = value {
            self.check_object(schema, object, path, depth, out);
        }
        if let (Some(items), Value::Array(array)) = (schema.get("items"), value) {
            for (i, item) in array.iter().enumerate() {
                self.check(items, item, &format!("{path}[{i}]"), depth + 1, out);
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.check(part, value, path, depth + 1, out);
            }
        }
        if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
            let results = self.alternatives(any, value, path, depth);
            if results.iter().all(|r| !r.is_empty()) {
                self.none_matches(out, path, "anyOf", any, results);
            }
        }
        if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
            self.check_one_of(schema, one, value, path, depth, out);
        }
    }

    fn check_object(
        &mut self,
        schema: &Map<String, Value>,
        object: &Map<String, Value>,
        path: &str,
        depth: usize,
        out: &mut Vec<Failure>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    self.fail(out, path, Problem::Missing(name.to_owned()));
                }
            }
        }
        let additional = schema.get("additionalProperties");
        for (key, item) in object {
            let at = child(path, key);
            if let Some(property) = properties.and_then(|p| p.get(key)) {
                self.check(property, item, &at, depth + 1, out);
                continue;
            }
            match additional {
                Some(Value::Bool(false)) => self.fail(out, &at, Problem::NotAllowed(key.clone())),
                Some(extra @ Value::Object(_)) => self.check(extra, item, &at, depth + 1, out),
                _ => {}
            }
        }
    }

    /// Each alternative's failures, checked on its own.
    fn alternatives(
        &mut self,
        schemas: &[Value],
        value: &Value,
        path: &str,
        depth: usize,
    ) -> Vec<Vec<Failure>> {
        schemas
            .iter()
            .map(|schema| {
                let mut failures = Vec::new();
                self.check(schema, value, path, depth + 1, &mut failures);
                failures
            })
            .collect()
    }

    fn none_matches(
        &self,
        out: &mut Vec<Failure>,
        path: &str,
        keyword: &'static str,
        schemas: &[Value],
        results: Vec<Vec<Failure>>,
    ) {
        let count = schemas.len();
        let nearest = results
            .into_iter()
            .enumerate()
            .min_by_key(|(_, failures)| distance(path, failures));
        let (nearest, failures) = match nearest {
            Some((i, failures)) => (alternative_name(&schemas[i], i), failures),
            None => ("none".to_owned(), Vec::new()),
        };
        let problem = Problem::NoAlternative {
            keyword,
            count,
            nearest,
            failures,
        };
        self.fail(out, path, problem);
    }

    fn check_one_of(
        &mut self,
        schema: &Map<String, Value>,
        one: &[Value],
        value: &Value,
        path: &str,
        depth: usize,
        out: &mut Vec<Failure>,
    ) {
        if let Some(discriminator) = schema.get("discriminator") {
            let property = discriminator
                .get("propertyName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(object) = value.as_object() else {
                // The type check has said what is wrong.
                return;
            };
            let Some(tag) = object.get(property).and_then(Value::as_str) else {
                let problem = Problem::Discriminator {
                    property: property.to_owned(),
                    value: None,
                };
                self.fail(out, path, problem);
                return;
            };
            let mapped = discriminator
                .get("mapping")
                .and_then(|m| m.get(tag))
                .and_then(Value::as_str);
            // Without a mapping, the value names the schema itself.
            let chosen = one.iter().find(|alt| {
                let reference = alt.get("$ref").and_then(Value::as_str);
                match mapped {
                    Some(m) => reference == Some(m),
                    None => reference.and_then(|r| r.rsplit('/').next()) == Some(tag),
                }
            });
            match chosen {
                Some(alt) => self.check(alt, value, path, depth + 1, out),
                None => {
                    let problem = Problem::Discriminator {
                        property: property.to_owned(),
                        value: Some(tag.to_owned()),
                    };
                    self.fail(out, path, problem);
                }
            }
            return;
        }
        let results = self.alternatives(one, value, path, depth);
        let matched: Vec<String> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_empty())
            .map(|(i, _)| alternative_name(&one[i], i))
            .collect();
        match matched.len() {
            1 => {}
            0 => self.none_matches(out, path, "oneOf", one, results),
            _ => self.fail(out, path, Problem::Ambiguous { matched }),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SPEC: &str = r##"
openapi: 3.0.3
servers:
  - url: https://api.example.com/v1
paths:
  /things/{thing_id}:
    get:
      responses:
        '200':
          $ref: '#/components/responses/Thing'
        4XX:
          description: Errors
          content:
            application/json:
              schema:
                $ref: '#/components/schemas/Errors'
        default:
          description: Anything else
          content:
            application/json:
              schema:
                type: string
  /things/count:
    get:
      responses:
        200:
          description: A count
          content:
            application/json; charset=utf-8:
              schema:
                type: integer
  /redirect:
    get:
      responses:
        '303':
          description: Elsewhere
components:
  responses:
    Thing:
      description: A thing
      content:
        application/json:
          schema:
            $ref: '#/components/schemas/Thing'
  schemas:
    Thing:
      type: object
      additionalProperties: false
      required: [id, size]
      properties:
        id: { type: string }
        size: { type: integer, format: int32 }
        note: { type: string, nullable: true }
        tags:
          type: array
          items: { type: string, enum: [red, blue] }
        child:
          $ref: '#/components/schemas/Thing'
    Errors:
      type: object
      required: [errors]
      properties:
        errors:
          type: array
          items: { type: object, required: [code] }
    Loop:
      $ref: '#/components/schemas/Loop'
    Cat:
      type: object
      required: [kind, meows]
      properties:
        kind: { type: string }
        meows: { type: boolean }
    Dog:
      type: object
      required: [kind, barks]
      properties:
        kind: { type: string }
        barks: { type: boolean }
"##;

    fn doc() -> Document {
        Document::parse("test", SPEC).unwrap()
    }

    /// The failures of `value` against the inline `schema`, as text.
    fn check(schema: Value, value: Value) -> Vec<String> {
        doc()
            .validate(&schema, &value, &strict)
            .iter()
            .map(Failure::to_string)
            .collect()
    }

    #[test]
    fn the_clerk_documents_load_and_find_operations() {
        let fapi = Document::fapi();
        let op = fapi
            .operation("POST", "/v1/client/sign_ins/{id}/attempt_first_factor")
            .unwrap();
        assert_eq!(
            op.path(),
            "/v1/client/sign_ins/{sign_in_id}/attempt_first_factor"
        );
        assert!(op.json_schema(200).is_some());
        let bapi = Document::bapi();
        assert_eq!(
            bapi.operation("GET", "/v1/users/{id}").unwrap().path(),
            "/users/{user_id}"
        );
        assert_eq!(
            bapi.operation("GET", "/v1/users/count").unwrap().path(),
            "/users/count"
        );
        assert!(bapi.operation("GET", "/v1/client").is_none());
    }

    #[test]
    fn operations_match_by_segment_shape_under_the_server_path() {
        let doc = doc();
        assert_eq!(
            doc.operation("GET", "/v1/things/{id}").unwrap().path(),
            "/things/{thing_id}"
        );
        assert_eq!(
            doc.operation("get", "/things/{x}").unwrap().path(),
            "/things/{thing_id}"
        );
        assert_eq!(
            doc.operation("GET", "/v1/things/count").unwrap().path(),
            "/things/count"
        );
        assert!(doc.operation("POST", "/v1/things/{id}").is_none());
        assert!(doc.operation("GET", "/v1/things").is_none());
        assert!(doc.operation("GET", "/v1/things/{id}/more").is_none());
        let lines = doc.check_response("GET", "/v1/nothing", 200, &json!({}), &strict);
        assert_eq!(
            lines,
            ["GET /v1/nothing 200 $: no such operation in the document"]
        );
    }

    #[test]
    fn responses_are_picked_by_code_then_class_then_default() {
        let doc = doc();
        let op = doc.operation("GET", "/v1/things/{id}").unwrap();
        // 200 by code (through a response $ref).
        assert!(
            op.check(200, &json!({"id": "t", "size": 1}), &strict)
                .is_empty()
        );
        assert_eq!(op.check(200, &json!("x"), &strict).len(), 1);
        // 404 by class.
        assert!(
            op.check(404, &json!({"errors": [{"code": "x"}]}), &strict)
                .is_empty()
        );
        let bad = op.check(422, &json!({"errors": [{}]}), &strict);
        assert_eq!(bad[0].to_string(), "$.errors[0]: missing required \"code\"");
        // 500 by default.
        assert!(op.check(500, &json!("boom"), &strict).is_empty());
        assert_eq!(
            op.check(500, &json!(1), &strict)[0].to_string(),
            "$: integer, expected string"
        );
        // An unquoted YAML code and a media type with parameters.
        let count = doc.operation("GET", "/v1/things/count").unwrap();
        assert!(count.check(200, &json!(3), &strict).is_empty());
        assert!(!count.check(200, &json!("3"), &strict).is_empty());
        assert!(matches!(
            count.check(404, &json!(3), &strict)[0].problem,
            Problem::UndocumentedStatus { .. }
        ));
    }

    #[test]
    fn bodies_must_be_where_documented_and_only_there() {
        let doc = doc();
        let redirect = doc.operation("GET", "/redirect").unwrap();
        assert!(redirect.check(303, &Value::Null, &strict).is_empty());
        assert_eq!(
            redirect.check(303, &json!({}), &strict)[0].problem,
            Problem::UnexpectedBody
        );
        let thing = doc.operation("GET", "/things/{id}").unwrap();
        assert_eq!(
            thing.check(200, &Value::Null, &strict)[0].problem,
            Problem::MissingBody
        );
    }

    #[test]
    fn check_response_prefixes_each_failure() {
        let lines = doc().check_response("GET", "/v1/things/{id}", 200, &json!({"id": 1}), &strict);
        assert_eq!(
            lines,
            [
                "GET /v1/things/{id} 200 $: missing required \"size\"",
                "GET /v1/things/{id} 200 $.id: integer, expected string",
            ]
        );
    }

    #[test]
    fn type_accepts_its_own_and_rejects_others() {
        for (t, good, bad) in [
            ("string", json!("a"), json!(1)),
            ("boolean", json!(true), json!("true")),
            ("object", json!({}), json!([])),
            ("array", json!([]), json!({})),
            ("integer", json!(3), json!(3.5)),
            ("number", json!(3.5), json!("3.5")),
        ] {
            assert!(
                check(json!({ "type": t }), good.clone()).is_empty(),
                "{t} {good}"
            );
            assert_eq!(
                check(json!({ "type": t }), bad.clone()).len(),
                1,
                "{t} {bad}"
            );
        }
        // An integer is a number; a number with a fraction is not an integer.
        assert!(check(json!({"type": "number"}), json!(3)).is_empty());
        assert_eq!(
            check(json!({"type": "integer"}), json!(1.0)),
            ["$: number, expected integer"]
        );
    }

    #[test]
    fn null_needs_nullable() {
        assert_eq!(
            check(json!({"type": "string"}), Value::Null),
            ["$: null, expected string"]
        );
        assert!(check(json!({"type": "string", "nullable": true}), Value::Null).is_empty());
        // Nullable lets null past everything else, enum included.
        assert!(
            check(
                json!({"type": "string", "nullable": true, "enum": ["a"]}),
                Value::Null
            )
            .is_empty()
        );
        assert_eq!(
            check(json!({"enum": ["a"]}), Value::Null),
            ["$: null, not nullable"]
        );
        // A schema without a type says nothing of null.
        assert!(check(json!({}), Value::Null).is_empty());
        // A $ref's target decides.
        let thing = json!({"$ref": "#/components/schemas/Thing"});
        assert_eq!(check(thing, Value::Null), ["$: null, expected object"]);
    }

    #[test]
    fn enum_lists_the_allowed_values() {
        let schema = json!({"type": "string", "enum": ["a", "b"]});
        assert!(check(schema.clone(), json!("b")).is_empty());
        assert_eq!(
            check(schema, json!("c")),
            [r#"$: "c" is not one of ["a", "b"]"#]
        );
        assert!(check(json!({"enum": [1, 2]}), json!(2)).is_empty());
        assert_eq!(check(json!({"enum": [1, 2]}), json!("2")).len(), 1);
    }

    #[test]
    fn properties_required_and_additional_properties() {
        let schema = json!({
            "type": "object",
            "required": ["a", "b"],
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        });
        assert!(check(schema.clone(), json!({"a": "x", "b": 1, "extra": true})).is_empty());
        assert_eq!(
            check(schema.clone(), json!({"b": "1"})),
            ["$: missing required \"a\"", "$.b: string, expected integer"]
        );
        let mut closed = schema.clone();
        closed["additionalProperties"] = json!(false);
        assert_eq!(
            check(
                closed,
                json!({"a": "x", "b": 1, "extra": true, "odd key": 1})
            ),
            [
                "$.extra: property \"extra\" is not allowed",
                "$[\"odd key\"]: property \"odd key\" is not allowed"
            ]
        );
        let mut open = schema.clone();
        open["additionalProperties"] = json!(true);
        assert!(check(open, json!({"a": "x", "b": 1, "extra": true})).is_empty());
        let mut typed = schema;
        typed["additionalProperties"] = json!({"type": "boolean"});
        assert!(check(typed.clone(), json!({"a": "x", "b": 1, "extra": true})).is_empty());
        assert_eq!(
            check(typed, json!({"a": "x", "b": 1, "extra": 2})),
            ["$.extra: integer, expected boolean"]
        );
    }

    #[test]
    fn items_are_each_checked_with_their_index() {
        let schema = json!({"type": "array", "items": {"type": "string", "enum": ["red", "blue"]}});
        assert!(check(schema.clone(), json!(["red", "blue"])).is_empty());
        assert_eq!(
            check(schema, json!(["red", 1, "green"])),
            [
                "$[1]: integer, expected string",
                r#"$[2]: "green" is not one of ["red", "blue"]"#
            ]
        );
    }

    #[test]
    fn refs_are_followed_recursively_and_loops_stop() {
        let thing = json!({"$ref": "#/components/schemas/Thing"});
        let good = json!({"id": "a", "size": 1, "child": {"id": "b", "size": 2, "child": {"id": "c", "size": 3}}});
        assert!(check(thing.clone(), good).is_empty());
        let bad =
            json!({"id": "a", "size": 1, "child": {"id": "b", "size": 2, "child": {"id": "c"}}});
        assert_eq!(
            check(thing, bad),
            ["$.child.child: missing required \"size\""]
        );
        let looped = check(json!({"$ref": "#/components/schemas/Loop"}), json!({}));
        assert_eq!(looped, ["$: bad $ref #/components/schemas/Loop (circular)"]);
        let missing = check(json!({"$ref": "#/components/schemas/Nope"}), json!({}));
        assert_eq!(missing, ["$: bad $ref #/components/schemas/Nope"]);
    }

    #[test]
    fn all_of_needs_every_part() {
        let schema = json!({"allOf": [
            {"type": "object", "required": ["a"]},
            {"type": "object", "required": ["b"]},
        ]});
        assert!(check(schema.clone(), json!({"a": 1, "b": 2})).is_empty());
        assert_eq!(
            check(schema, json!({"a": 1})),
            ["$: missing required \"b\""]
        );
    }

    #[test]
    fn any_of_needs_one_part_and_names_the_nearest() {
        let schema = json!({"anyOf": [{"type": "string"}, {"type": "integer", "enum": [1]}]});
        assert!(check(schema.clone(), json!("x")).is_empty());
        assert!(check(schema.clone(), json!(1)).is_empty());
        assert_eq!(
            check(schema, json!(2)),
            ["$: matches none of the 2 anyOf alternatives; nearest #1: $: 2 is not one of [1]"]
        );
    }

    #[test]
    fn one_of_needs_exactly_one_part() {
        let pets = json!({"oneOf": [
            {"$ref": "#/components/schemas/Cat"},
            {"$ref": "#/components/schemas/Dog"},
        ]});
        assert!(check(pets.clone(), json!({"kind": "Cat", "meows": true})).is_empty());
        assert_eq!(
            check(
                pets.clone(),
                json!({"kind": "Cat", "meows": true, "barks": false})
            ),
            ["$: matches 2 oneOf alternatives (Cat, Dog), exactly one expected"]
        );
        assert_eq!(
            check(pets, json!({"kind": "Cat"})),
            [
                "$: matches none of the 2 oneOf alternatives; nearest Cat: $: missing required \"meows\""
            ]
        );
    }

    #[test]
    fn a_discriminator_chooses_the_alternative() {
        let alternatives = json!([
            {"$ref": "#/components/schemas/Cat"},
            {"$ref": "#/components/schemas/Dog"},
        ]);
        // By the schema's name, without a mapping.
        let by_name = json!({"oneOf": alternatives, "discriminator": {"propertyName": "kind"}});
        // Both would match; the discriminator picks Dog alone.
        let both = json!({"kind": "Dog", "meows": true, "barks": false});
        assert!(check(by_name.clone(), both).is_empty());
        assert_eq!(
            check(by_name.clone(), json!({"kind": "Dog", "meows": true})),
            ["$: missing required \"barks\""]
        );
        assert_eq!(
            check(by_name.clone(), json!({"kind": "Cow"})),
            ["$: discriminator \"kind\" = \"Cow\" names no alternative"]
        );
        assert_eq!(
            check(by_name, json!({"kind": 1})),
            ["$: discriminator \"kind\" is not a string"]
        );
        // By a mapping.
        let mapped = json!({"oneOf": alternatives, "discriminator": {
            "propertyName": "kind",
            "mapping": {"woof": "#/components/schemas/Dog"},
        }});
        assert!(check(mapped.clone(), json!({"kind": "woof", "barks": true})).is_empty());
        assert_eq!(
            check(mapped, json!({"kind": "woof", "meows": true})),
            ["$: missing required \"barks\""]
        );
    }

    #[test]
    fn integer_formats_bound_their_numbers() {
        let int32 = json!({"type": "integer", "format": "int32"});
        assert!(check(int32.clone(), json!(2_147_483_647)).is_empty());
        assert_eq!(
            check(int32, json!(2_147_483_648_i64)),
            ["$: 2147483648 is not a valid int32"]
        );
        let int64 = json!({"format": "int64"});
        assert!(check(int64.clone(), json!(-5)).is_empty());
        assert_eq!(
            check(int64.clone(), json!(1.5)),
            ["$: 1.5 is not a valid int64"]
        );
        assert_eq!(
            check(int64, json!(u64::MAX)),
            [format!("$: {} is not a valid int64", u64::MAX)]
        );
        // Other formats are not checked.
        assert!(check(json!({"type": "string", "format": "email"}), json!("nope")).is_empty());
    }

    #[test]
    fn unknown_keywords_are_ignored() {
        let schema = json!({"type": "string", "pattern": "^a$", "minLength": 5, "x-thing": 1});
        assert!(check(schema, json!("b")).is_empty());
    }

    #[test]
    fn an_allowance_drops_the_failures_it_accepts_even_inside_alternatives() {
        let doc = doc();
        let schema = json!({"oneOf": [
            {"type": "object", "properties": {"strategy": {"type": "string", "enum": ["a"]}}, "required": ["strategy"]},
            {"type": "string"},
        ]});
        let value = json!({"strategy": "custom_x"});
        assert_eq!(doc.validate(&schema, &value, &strict).len(), 1);
        let allow = |f: &Failure| {
            f.path.ends_with(".strategy")
                && matches!(&f.problem, Problem::Enum { value, .. }
                    if value.as_str().is_some_and(|s| s.starts_with("custom_")))
        };
        assert!(doc.validate(&schema, &value, &allow).is_empty());
        assert_eq!(
            doc.validate(&schema, &json!({"strategy": "other"}), &allow)
                .len(),
            1
        );
    }
}
