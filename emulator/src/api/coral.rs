//! Generic Coral input validation, generated from the service models.
//!
//! AWS's service framework ("Coral") checks every request's input against the operation's
//! input shape before the operation runs, and answers `ValidationException` (HTTP 400) listing
//! what failed:
//!
//! ```text
//! 2 validation errors detected: Value at 'description' failed to satisfy constraint: Member
//! must have length less than or equal to 200; Value null at 'blockedInputMessaging' failed to
//! satisfy constraint: Member must not be null
//! ```
//!
//! The shapes come from `data/shapes.json` (written by `tools/gen_shapes.py` from the models
//! in `shared/spec/`), loaded once. [`validate_input`] takes the operation's whole input
//! structure as JSON: the caller merges the body members with the URI labels, query parameters
//! and headers under their member names ([`members_by_location`] says which are which).
//!
//! # What is checked, and how it is worded
//!
//! Confirmed against real AWS answers (quoted in public reproductions and emulators tested
//! against AWS: architect/dynalite `validations/index.js`, AWS's own DataZone API reference
//! examples, Lambda/ACM/EventBridge/Cognito error texts in public issues):
//!
//! * the prefix `1 validation error detected: ` / `N validation errors detected: `, errors
//!   joined by `; `, each `Value '<v>' at '<path>' failed to satisfy constraint: Member must …`;
//!   a missing or null member is `Value null at '<path>' … Member must not be null`;
//! * the phrases `have length greater than or equal to N` / `less than or equal to N` (strings,
//!   blobs, lists and maps alike), `have value greater than or equal to N` / `less than or
//!   equal to N` (numbers), `satisfy regular expression pattern: <model pattern>` (matched
//!   against the whole value), `satisfy enum value set: [A, B]`;
//! * at most **10** errors are listed (dynalite stops collecting at ten, and the count in the
//!   prefix is the number listed);
//! * sensitive members are not echoed: `Value at 'name' failed …` (Cognito's `password`,
//!   DataZone's names; `GuardrailName` and most guardrail strings are sensitive in the model,
//!   so Bedrock answers `Value at 'name'` for a bad guardrail name);
//! * non-strings are echoed the way Java prints them, quoted like strings: `Value '5'`,
//!   lists as `[a, b]`, maps as `{k=v}`;
//! * every broken rule of one member is its own error (an empty string with `min: 1` and a
//!   pattern gets two), length before pattern;
//! * elements of a list of strings (or numbers) are not reported one by one: one error at the
//!   list's path, `Value '[a, b]' at 'list' … Member must satisfy constraint: [Member must have
//!   length less than or equal to 6, Member must have length greater than or equal to 0, Member
//!   must satisfy regular expression pattern: .*]` (every rule of the element shape: max, min,
//!   pattern, enum); map keys and values likewise, keys first: `Map keys must satisfy
//!   constraint: […]`, `Map value must satisfy constraint: […]`. Structures inside lists are
//!   walked with the path `<list>.<1-based index>.member.<member>`.
//!
//! Chosen where AWS could not be confirmed:
//!
//! * **Order**: real Coral's order follows its own (hash-like) member order, not the model's
//!   (reproductions of DynamoDB and Firehose show it); here errors follow the model's member
//!   order, depth first, which is stable and readable.
//! * **Lengths** count Unicode scalar values (`chars`), as the Smithy `length` trait defines
//!   and `validate::check_len` does; Java's Coral may count UTF-16 code units, which differs
//!   only outside the Basic Multilingual Plane.
//! * **Structures** inside an echoed value print as `ShapeName(member=value, …)` with every
//!   model member (absent ones `null`, sensitive ones `*** Sensitive Data Redacted ***`),
//!   blobs as Java's `java.nio.HeapByteBuffer[pos=0 lim=N cap=N]`, numbers of float/double
//!   members as Java doubles (`2.0`, `1.0E-7`); bounds are printed as the model writes them.
//! * **Map entries** below a map (a structure or list as a value) are walked with the path
//!   `<map>.<key>.member`; a null list element or map value is `Value null at
//!   '<list>.<i>.member' … Member must not be null`.
//! * **Unions** must have exactly one member set (nulls and `__type` ignored, unknown members
//!   ignored); otherwise `Value at '<path>' failed to satisfy constraint: Member must have
//!   exactly one member set, but none was set` (or `but more than one was set`), the wording
//!   of `validate::union_member`, listed with the other errors.
//! * **Wrong JSON types** (a string where a structure belongs, a fraction for an integer, bad
//!   base64 for a blob): Coral deserialises before it validates, so a type error stops
//!   everything and is answered alone, as `validate::wrong_type` words it — `1 validation
//!   error detected: Value at 'path' failed to satisfy constraint: Member must be a structure`.
//!   Real Coral answers such bodies `SerializationException` on its awsJson services (dynalite
//!   mirrors `Start of structure or map found where not expected`), but that code is not in
//!   Bedrock's model, so the SDKs would surface it untyped, and it is unconfirmed for Bedrock's
//!   restJson1 endpoints; the emulator keeps the ValidationException its hand-written
//!   validators already answer. The first type error in model order wins.
//! * Query, header and URI members may be given as strings: a numeric or boolean one is parsed
//!   (`"5"` → 5), a single string stands for a one-element list. Floats accept `"NaN"`,
//!   `"Infinity"` and `"-Infinity"` (restJson1), and NaN fails both bounds.
//! * Unknown members are ignored, as AWS ignores them; an unknown operation has nothing to
//!   validate.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::validate;
use crate::wire::error::BedrockError;

/// The most errors one answer lists (Coral stops collecting at ten).
pub const MAX_LISTED_ERRORS: usize = 10;

/// How a sensitive value nested in an echoed one is printed.
const REDACTED: &str = "*** Sensitive Data Redacted ***";

/// Validates `input`, the whole input structure of `operation` of `service` (`bedrock` or
/// `bedrock-runtime`), against the service model: `Ok` when Coral would let it through,
/// otherwise the `ValidationException` Coral answers (see the module documentation).
pub fn validate_input(service: &str, operation: &str, input: &Value) -> Result<(), BedrockError> {
    let Some(svc) = table().services.get(service) else { return Ok(()) };
    let Some(id) = svc.operations.get(operation).and_then(|op| op.input) else { return Ok(()) };
    let empty = Map::new();
    let object = match input {
        Value::Null => &empty,
        Value::Object(map) => map,
        _ => return Err(BedrockError::validation("The request body must be a JSON object.")),
    };
    let mut walk = Walk { service: svc, errors: Vec::new() };
    walk.structure(id, object, "", true)?;
    match walk.errors.len() {
        0 => Ok(()),
        1 => Err(BedrockError::validation(format!("1 validation error detected: {}", walk.errors[0]))),
        n => Err(BedrockError::validation(format!("{n} validation errors detected: {}", walk.errors.join("; ")))),
    }
}

/// The name of `operation`'s input shape (`CreateGuardrailRequest`).
pub fn input_shape(service: &str, operation: &str) -> Option<&'static str> {
    let svc = table().services.get(service)?;
    let id = svc.operations.get(operation)?.input?;
    Some(svc.shapes[id].name.as_str())
}

/// The name of `operation`'s output shape (`CreateGuardrailResponse`).
pub fn output_shape(service: &str, operation: &str) -> Option<&'static str> {
    table().services.get(service)?.operations.get(operation)?.output.as_deref()
}

/// The input members of `operation` bound to the HTTP request rather than the body, in model
/// order: `(member, location, locationName)` with location `uri`, `querystring`, `header` or
/// `headers` (a header-prefix map), e.g. `("maxResults", "querystring", "maxResults")`.
pub fn members_by_location(service: &str, operation: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    let Some(svc) = table().services.get(service) else { return Vec::new() };
    let Some(id) = svc.operations.get(operation).and_then(|op| op.input) else { return Vec::new() };
    svc.shapes[id]
        .members
        .iter()
        .filter_map(|m| m.location.as_deref().map(|loc| (m.name.as_str(), loc, m.location_name.as_str())))
        .collect()
}

/// The whole input structure of the request's operation, as the model binds it: the JSON
/// body's members, then every member the model places in the URI or the query string, read
/// from there under its member name — query integers, floats and booleans as JSON numbers and
/// booleans (a value that does not parse is refused as a mistyped member, the way Coral does),
/// everything else as a string. What `validate_input` then checks, and what handlers read.
pub fn operation_input(req: &super::Request) -> Result<Map<String, Value>, BedrockError> {
    let service = req.route.route.service.name();
    let operation = req.operation();
    let mut input = if req.body.is_empty() || payload_member(service, operation).is_some() {
        Map::new()
    } else {
        validate::body_object(&req.body)?
    };
    let Some(svc) = table().services.get(service) else { return Ok(input) };
    let Some(id) = svc.operations.get(operation).and_then(|op| op.input) else { return Ok(input) };
    // A structure payload is the whole JSON body (StartAutomatedReasoningPolicyBuildWorkflow's
    // `sourceContent`); a blob or stream payload stays the operation's own to read.
    if let Some(payload) = svc.shapes[id].payload.as_deref() {
        let member = svc.shapes[id].members.iter().find(|m| m.name == payload);
        if member.is_some_and(|m| matches!(svc.shapes[m.target].kind, Kind::Structure | Kind::Union))
            && !req.body.is_empty()
        {
            input.insert(payload.to_string(), Value::Object(validate::body_object(&req.body)?));
        }
    }
    for m in &svc.shapes[id].members {
        let raw = match m.location.as_deref() {
            Some("uri") => Some(req.label(&m.location_name)).filter(|v| !v.is_empty()),
            Some("querystring") => req.query(&m.location_name),
            _ => None,
        };
        let Some(raw) = raw else { continue };
        let wrong = || validate::wrong_type(&m.name, svc.shapes[m.target].kind.expected());
        let value = match svc.shapes[m.target].kind {
            Kind::Integer | Kind::Long => Value::from(raw.parse::<i64>().map_err(|_| wrong())?),
            Kind::Float | Kind::Double => {
                let f = raw.parse::<f64>().ok().filter(|f| f.is_finite()).ok_or_else(wrong)?;
                serde_json::Number::from_f64(f).map(Value::Number).ok_or_else(wrong)?
            }
            Kind::Boolean => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(wrong()),
            },
            _ => Value::String(raw.to_string()),
        };
        input.insert(m.name.clone(), value);
    }
    Ok(input)
}

/// The request's input (body members, URI labels, query parameters), validated with Coral's
/// messages against the operation's input shape.
pub fn validated_input(req: &super::Request) -> Result<Map<String, Value>, BedrockError> {
    let input = operation_input(req)?;
    validate_input(req.route.route.service.name(), req.operation(), &Value::Object(input.clone()))?;
    Ok(input)
}

/// The input member that is the whole HTTP body (InvokeModel's `body`), if the operation has
/// one; its value is the raw body text, not base64.
pub fn payload_member(service: &str, operation: &str) -> Option<&'static str> {
    let svc = table().services.get(service)?;
    let id = svc.operations.get(operation)?.input?;
    svc.shapes[id].payload.as_deref()
}

// ---------------------------------------------------------------------------------------------
// The table.

#[derive(Deserialize)]
struct RawFile {
    version: u32,
    services: HashMap<String, RawService>,
}

#[derive(Deserialize)]
struct RawService {
    operations: HashMap<String, RawOperation>,
    shapes: HashMap<String, RawShape>,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<String>,
    output: Option<String>,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    members: Vec<Vec<String>>,
    #[serde(default)]
    required: Vec<String>,
    payload: Option<String>,
    member: Option<String>,
    key: Option<String>,
    value: Option<String>,
    min: Option<Value>,
    max: Option<Value>,
    pattern: Option<String>,
    #[serde(rename = "enum", default)]
    enum_values: Vec<String>,
    #[serde(default)]
    sensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Structure,
    Union,
    List,
    Map,
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Timestamp,
    Blob,
    /// A document or event stream: any JSON, not validated.
    Any,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "structure" => Kind::Structure,
            "union" => Kind::Union,
            "list" => Kind::List,
            "map" => Kind::Map,
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "long" => Kind::Long,
            "float" => Kind::Float,
            "double" => Kind::Double,
            "boolean" => Kind::Boolean,
            "timestamp" => Kind::Timestamp,
            "blob" => Kind::Blob,
            "document" | "eventstream" => Kind::Any,
            _ => return None,
        })
    }

    /// What `validate::wrong_type` says a value of this kind must be.
    fn expected(self) -> &'static str {
        match self {
            Kind::Structure => "a structure",
            Kind::Union => "a union structure",
            Kind::List => "a list",
            Kind::Map => "a map",
            Kind::String => "a string",
            Kind::Integer | Kind::Long => "an integer",
            Kind::Float | Kind::Double => "a number",
            Kind::Boolean => "a boolean",
            Kind::Timestamp => "a timestamp",
            Kind::Blob => "a base64-encoded blob",
            Kind::Any => "a JSON value",
        }
    }
}

/// A length or value bound: its value and its text as the model writes it.
#[derive(Debug)]
struct Bound {
    value: f64,
    text: String,
}

/// A model pattern and the form of it regex-lite compiles.
#[derive(Debug)]
struct Pattern {
    model: String,
    lite: String,
}

#[derive(Debug)]
struct Member {
    name: String,
    target: usize,
    required: bool,
    location: Option<String>,
    location_name: String,
}

#[derive(Debug)]
struct Shape {
    name: String,
    kind: Kind,
    members: Vec<Member>,
    payload: Option<String>,
    /// List member, or map key and value.
    member: Option<usize>,
    key: Option<usize>,
    value: Option<usize>,
    min: Option<Bound>,
    max: Option<Bound>,
    pattern: Option<Pattern>,
    enum_values: Vec<String>,
    sensitive: bool,
}

struct Operation {
    input: Option<usize>,
    output: Option<String>,
}

struct Service {
    operations: HashMap<String, Operation>,
    shapes: Vec<Shape>,
}

struct Table {
    services: HashMap<String, Service>,
}

/// The generated table (an empty one if it did not load; a test keeps it loading).
fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        Table::parse(include_str!("../../data/shapes.json")).unwrap_or_else(|_| Table { services: HashMap::new() })
    })
}

impl Table {
    fn parse(text: &str) -> Result<Table, String> {
        let raw: RawFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if raw.version != 1 {
            return Err(format!("unknown shapes table version {}", raw.version));
        }
        let mut services = HashMap::new();
        for (name, service) in raw.services {
            services.insert(name, Service::resolve(service)?);
        }
        Ok(Table { services })
    }
}

impl Service {
    fn resolve(raw: RawService) -> Result<Service, String> {
        let mut names: Vec<&String> = raw.shapes.keys().collect();
        names.sort();
        let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
        let find = |name: &str| index.get(name).copied().ok_or_else(|| format!("unknown shape {name}"));
        let bound = |v: &Option<Value>| -> Result<Option<Bound>, String> {
            match v {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(Some(Bound { value: n.as_f64().unwrap_or(0.0), text: n.to_string() })),
                Some(Value::String(s)) => {
                    let value = s.parse::<f64>().map_err(|e| format!("bound {s}: {e}"))?;
                    Ok(Some(Bound { value, text: s.clone() }))
                }
                Some(other) => Err(format!("bad bound {other}")),
            }
        };
        let mut shapes = Vec::with_capacity(names.len());
        for name in &names {
            let s = &raw.shapes[name.as_str()];
            let kind = Kind::parse(&s.kind).ok_or_else(|| format!("{name}: unknown type {}", s.kind))?;
            let mut members = Vec::with_capacity(s.members.len());
            for row in &s.members {
                let (member, target) = match (row.first(), row.get(1)) {
                    (Some(m), Some(t)) => (m, t),
                    _ => return Err(format!("{name}: bad member row {row:?}")),
                };
                members.push(Member {
                    name: member.clone(),
                    target: find(target)?,
                    required: s.required.contains(member),
                    location: row.get(2).cloned(),
                    location_name: row.get(3).unwrap_or(member).clone(),
                });
            }
            let target = |t: &Option<String>| t.as_deref().map(find).transpose();
            shapes.push(Shape {
                name: (*name).clone(),
                kind,
                members,
                payload: s.payload.clone(),
                member: target(&s.member)?,
                key: target(&s.key)?,
                value: target(&s.value)?,
                min: bound(&s.min)?,
                max: bound(&s.max)?,
                pattern: s.pattern.as_ref().map(|p| Pattern { model: p.clone(), lite: lite_pattern(p) }),
                enum_values: s.enum_values.clone(),
                sensitive: s.sensitive,
            });
            let shape = &shapes[shapes.len() - 1];
            let complete = match kind {
                Kind::List => shape.member.is_some(),
                Kind::Map => shape.key.is_some() && shape.value.is_some(),
                _ => true,
            };
            if !complete {
                return Err(format!("{name}: a {} without its member shapes", s.kind));
            }
        }
        let mut operations = HashMap::new();
        for (name, op) in &raw.operations {
            let input = op.input.as_deref().map(find).transpose()?;
            operations.insert(name.clone(), Operation { input, output: op.output.clone() });
        }
        Ok(Service { operations, shapes })
    }
}

/// A model pattern (Java syntax) as regex-lite compiles it: regex-lite has no Unicode classes,
/// so `\p{L}` (letters) and `\p{M}` (marks) become ranges that hold every ASCII letter, no
/// other ASCII character, and the non-ASCII letters and marks (with some other non-ASCII
/// characters: a generous approximation never refuses a real letter).
fn lite_pattern(pattern: &str) -> String {
    const LETTERS: &str = r"A-Za-z\x{AA}\x{B5}\x{BA}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{2FF}\x{370}-\x{10FFFF}";
    const MARKS: &str = r"\x{300}-\x{36F}\x{483}-\x{489}\x{591}-\x{5BD}\x{1AB0}-\x{1AFF}\x{1DC0}-\x{1DFF}\x{20D0}-\x{20FF}\x{FE20}-\x{FE2F}";
    if !pattern.contains(r"\p{") {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut in_class = false;
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        let replaced = [(r"\p{L}", LETTERS), (r"\p{M}", MARKS)].into_iter().find(|(from, _)| rest.starts_with(from));
        if let Some((from, ranges)) = replaced {
            if in_class {
                out.push_str(ranges);
            } else {
                out.push('[');
                out.push_str(ranges);
                out.push(']');
            }
            rest = &rest[from.len()..];
            continue;
        }
        if c == '\\' {
            // An escape and the character it escapes are copied together.
            let mut chars = rest.chars();
            chars.next();
            let escaped = chars.next().map_or(0, char::len_utf8);
            out.push_str(&rest[..1 + escaped]);
            rest = &rest[1 + escaped..];
            continue;
        }
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ => {}
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The walk.

/// A value that passed its type check.
enum Typed<'v> {
    Object(&'v Map<String, Value>),
    Array(&'v [Value]),
    Str(&'v str),
    Int(i64),
    Num(f64),
    /// A blob of this many bytes.
    Bytes(usize),
    /// A boolean, timestamp or document: nothing to check.
    Plain,
}

struct Walk<'t> {
    service: &'t Service,
    errors: Vec<String>,
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl<'t> Walk<'t> {
    fn shape(&self, id: usize) -> &'t Shape {
        &self.service.shapes[id]
    }

    fn push(&mut self, message: String) {
        if self.errors.len() < MAX_LISTED_ERRORS {
            self.errors.push(message);
        }
    }

    /// One error: `Value … at 'path' failed to satisfy constraint: <what>`.
    fn report(&mut self, id: usize, value: &Value, path: &str, what: &str) {
        if self.errors.len() >= MAX_LISTED_ERRORS {
            return;
        }
        let shown = if value.is_null() {
            "Value null".to_string()
        } else if self.hidden(id) {
            "Value".to_string()
        } else {
            format!("Value '{}'", self.render(id, value))
        };
        self.push(format!("{shown} at '{path}' failed to satisfy constraint: {what}"));
    }

    /// Whether Coral leaves the value out of its message: a sensitive shape, or a collection
    /// of sensitive elements.
    fn hidden(&self, id: usize) -> bool {
        let shape = self.shape(id);
        shape.sensitive
            || match shape.kind {
                Kind::List => shape.member.is_some_and(|m| self.hidden(m)),
                Kind::Map => shape.key.is_some_and(|k| self.hidden(k)) || shape.value.is_some_and(|v| self.hidden(v)),
                _ => false,
            }
    }

    /// `value` printed as Coral (Java) prints it.
    fn render(&self, id: usize, value: &Value) -> String {
        let shape = self.shape(id);
        match (value, shape.kind) {
            (Value::Null, _) => "null".to_string(),
            (_, _) if shape.sensitive => REDACTED.to_string(),
            (Value::String(s), Kind::Blob) => format!("java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", blob_len(s)),
            (Value::String(s), _) => s.clone(),
            (Value::Number(n), Kind::Float) => n.as_f64().map_or_else(|| n.to_string(), |f| java_float(f as f32)),
            (Value::Number(n), Kind::Double) => n.as_f64().map_or_else(|| n.to_string(), java_double),
            (Value::Array(items), Kind::List) => {
                let member = shape.member.unwrap_or(id);
                let items: Vec<String> = items.iter().map(|v| self.render(member, v)).collect();
                format!("[{}]", items.join(", "))
            }
            (Value::Object(map), Kind::Map) => {
                let (key, val) = (shape.key.unwrap_or(id), shape.value.unwrap_or(id));
                let entries: Vec<String> = map
                    .iter()
                    .map(|(k, v)| format!("{}={}", self.render(key, &Value::String(k.clone())), self.render(val, v)))
                    .collect();
                format!("{{{}}}", entries.join(", "))
            }
            (Value::Object(map), Kind::Structure | Kind::Union) => {
                let members: Vec<String> = shape
                    .members
                    .iter()
                    .map(|m| {
                        let v = validate::field(map, &m.name).unwrap_or(&Value::Null);
                        format!("{}={}", m.name, self.render(m.target, v))
                    })
                    .collect();
                format!("{}({})", shape.name, members.join(", "))
            }
            (other, _) => other.to_string(),
        }
    }

    /// The members of structure `id` in model order: required ones present, and each present
    /// one checked. `top` marks the input structure, whose located members may be strings.
    fn structure(&mut self, id: usize, object: &Map<String, Value>, path: &str, top: bool) -> Result<(), BedrockError> {
        let shape = self.shape(id);
        for member in &shape.members {
            let member_path = join(path, &member.name);
            let value = match validate::field(object, &member.name) {
                None | Some(Value::Null) => {
                    if member.required {
                        self.report(member.target, &Value::Null, &member_path, "Member must not be null");
                    }
                    continue;
                }
                Some(v) => v,
            };
            let value = if top && member.location.is_some() {
                self.typed_request_text(member.target, value)
            } else {
                Cow::Borrowed(value)
            };
            let raw = top && shape.payload.as_deref() == Some(member.name.as_str());
            self.member(member.target, &value, &member_path, raw)?;
        }
        Ok(())
    }

    /// A located member's value as its type: query, header and label values are text.
    fn typed_request_text<'v>(&self, id: usize, value: &'v Value) -> Cow<'v, Value> {
        let shape = self.shape(id);
        match (shape.kind, value) {
            (Kind::Integer | Kind::Long, Value::String(s)) => {
                s.trim().parse::<i64>().map_or(Cow::Borrowed(value), |n| Cow::Owned(Value::from(n)))
            }
            (Kind::Float | Kind::Double, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(|f| serde_json::Number::from_f64(f).map(|n| Cow::Owned(Value::Number(n))))
                .unwrap_or(Cow::Borrowed(value)),
            (Kind::Boolean, Value::String(s)) => match s.as_str() {
                "true" => Cow::Owned(Value::Bool(true)),
                "false" => Cow::Owned(Value::Bool(false)),
                _ => Cow::Borrowed(value),
            },
            (Kind::List, Value::String(_)) => {
                Cow::Owned(Value::Array(vec![self.typed_request_text(shape.member.unwrap_or(id), value).into_owned()]))
            }
            (Kind::List, Value::Array(items)) if items.iter().any(Value::is_string) => {
                let member = shape.member.unwrap_or(id);
                Cow::Owned(Value::Array(
                    items.iter().map(|v| self.typed_request_text(member, v).into_owned()).collect(),
                ))
            }
            _ => Cow::Borrowed(value),
        }
    }

    /// A present member: its type, its own rules (each broken one an error), then its parts.
    fn member(&mut self, id: usize, value: &Value, path: &str, raw: bool) -> Result<(), BedrockError> {
        let typed = self.typed(id, value, path, raw)?;
        for what in self.failures(id, &typed) {
            self.report(id, value, path, &what);
        }
        self.parts(id, value, &typed, path)
    }

    /// `value` checked against the JSON type of shape `id`.
    fn typed<'v>(&self, id: usize, value: &'v Value, path: &str, raw: bool) -> Result<Typed<'v>, BedrockError> {
        let kind = self.shape(id).kind;
        let wrong = || validate::wrong_type(path, kind.expected());
        Ok(match kind {
            Kind::Structure | Kind::Union | Kind::Map => Typed::Object(value.as_object().ok_or_else(wrong)?),
            Kind::List => Typed::Array(value.as_array().ok_or_else(wrong)?),
            Kind::String => Typed::Str(value.as_str().ok_or_else(wrong)?),
            Kind::Integer | Kind::Long => {
                let n = integer(value).ok_or_else(wrong)?;
                if kind == Kind::Integer && i32::try_from(n).is_err() {
                    return Err(wrong());
                }
                Typed::Int(n)
            }
            Kind::Float | Kind::Double => match value {
                Value::Number(n) => Typed::Num(n.as_f64().ok_or_else(wrong)?),
                Value::String(s) => Typed::Num(match s.as_str() {
                    "NaN" => f64::NAN,
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => return Err(wrong()),
                }),
                _ => return Err(wrong()),
            },
            Kind::Boolean => {
                value.as_bool().ok_or_else(wrong)?;
                Typed::Plain
            }
            Kind::Timestamp => match value {
                Value::Number(_) | Value::String(_) => Typed::Plain,
                _ => return Err(wrong()),
            },
            Kind::Blob => {
                let text = value.as_str().ok_or_else(wrong)?;
                if raw {
                    Typed::Bytes(text.len())
                } else {
                    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| wrong())?;
                    Typed::Bytes(bytes.len())
                }
            }
            Kind::Any => Typed::Plain,
        })
    }

    /// The rules of shape `id` that `typed` breaks, as Coral words them.
    fn failures(&self, id: usize, typed: &Typed<'_>) -> Vec<String> {
        let shape = self.shape(id);
        let mut out = Vec::new();
        let length = match typed {
            Typed::Str(s) if shape.kind == Kind::String => Some(s.chars().count()),
            Typed::Bytes(n) => Some(*n),
            Typed::Array(a) => Some(a.len()),
            Typed::Object(m) if shape.kind == Kind::Map => Some(m.len()),
            _ => None,
        };
        if let Some(n) = length {
            let n = n as f64;
            if let Some(min) = shape.min.as_ref().filter(|b| n < b.value) {
                out.push(format!("Member must have length greater than or equal to {}", min.text));
            }
            if let Some(max) = shape.max.as_ref().filter(|b| n > b.value) {
                out.push(format!("Member must have length less than or equal to {}", max.text));
            }
        }
        if let Typed::Str(s) = typed {
            if let Some(p) = shape.pattern.as_ref().filter(|p| !validate::matches_pattern(&p.lite, s)) {
                out.push(format!("Member must satisfy regular expression pattern: {}", p.model));
            }
            if !shape.enum_values.is_empty() && !shape.enum_values.iter().any(|e| e == s) {
                out.push(format!("Member must satisfy enum value set: [{}]", shape.enum_values.join(", ")));
            }
        }
        let number = match typed {
            Typed::Int(n) => Some(*n as f64),
            Typed::Num(f) => Some(*f),
            _ => None,
        };
        if let Some(x) = number {
            // NaN satisfies no comparison, so it breaks both bounds.
            if let Some(min) = shape.min.as_ref().filter(|b| x.is_nan() || x < b.value) {
                out.push(format!("Member must have value greater than or equal to {}", min.text));
            }
            if let Some(max) = shape.max.as_ref().filter(|b| x.is_nan() || x > b.value) {
                out.push(format!("Member must have value less than or equal to {}", max.text));
            }
        }
        out
    }

    /// Every rule of shape `id`, in the order Coral lists them inside `[…]`.
    fn rules(&self, id: usize) -> Vec<String> {
        let shape = self.shape(id);
        let mut out = Vec::new();
        let (unit, lengths) = match shape.kind {
            Kind::String | Kind::Blob | Kind::List | Kind::Map => ("length", true),
            _ => ("value", false),
        };
        if lengths || matches!(shape.kind, Kind::Integer | Kind::Long | Kind::Float | Kind::Double) {
            if let Some(max) = &shape.max {
                out.push(format!("Member must have {unit} less than or equal to {}", max.text));
            }
            if let Some(min) = &shape.min {
                out.push(format!("Member must have {unit} greater than or equal to {}", min.text));
            }
        }
        if let Some(p) = &shape.pattern {
            out.push(format!("Member must satisfy regular expression pattern: {}", p.model));
        }
        if !shape.enum_values.is_empty() {
            out.push(format!("Member must satisfy enum value set: [{}]", shape.enum_values.join(", ")));
        }
        out
    }

    /// The parts of a value that passed its type check: structure members, the one member of
    /// a union, list elements, map entries.
    fn parts(&mut self, id: usize, value: &Value, typed: &Typed<'_>, path: &str) -> Result<(), BedrockError> {
        let shape = self.shape(id);
        match (shape.kind, typed) {
            (Kind::Structure, Typed::Object(object)) => self.structure(id, object, path, false),
            (Kind::Union, Typed::Object(object)) => {
                let known: Vec<&Member> = shape
                    .members
                    .iter()
                    .filter(|m| validate::field(object, &m.name).is_some_and(|v| !v.is_null()))
                    .collect();
                match known.as_slice() {
                    [one] => {
                        let v = validate::field(object, &one.name).unwrap_or(&Value::Null);
                        self.member(one.target, v, &join(path, &one.name), false)
                    }
                    [] => {
                        self.push(format!("Value at '{path}' failed to satisfy constraint: Member must have exactly one member set, but none was set"));
                        Ok(())
                    }
                    _ => {
                        self.push(format!("Value at '{path}' failed to satisfy constraint: Member must have exactly one member set, but more than one was set"));
                        Ok(())
                    }
                }
            }
            (Kind::List, Typed::Array(items)) => {
                let member = shape.member.unwrap_or(id);
                let mut broken = false;
                for (i, item) in items.iter().enumerate() {
                    broken |= self.element(member, item, &validate::member(path, i))?;
                }
                if broken {
                    let what = format!("Member must satisfy constraint: [{}]", self.rules(member).join(", "));
                    self.report(id, value, path, &what);
                }
                Ok(())
            }
            (Kind::Map, Typed::Object(map)) => {
                let (key, val) = (shape.key.unwrap_or(id), shape.value.unwrap_or(id));
                let mut keys_broken = false;
                for k in map.keys() {
                    let text = Value::String(k.clone());
                    let typed = self.typed(key, &text, path, false)?;
                    keys_broken |= !self.failures(key, &typed).is_empty();
                }
                if keys_broken {
                    let what = format!("Map keys must satisfy constraint: [{}]", self.rules(key).join(", "));
                    self.report(id, value, path, &what);
                }
                let mut values_broken = false;
                for (k, v) in map.iter() {
                    values_broken |= self.element(val, v, &format!("{path}.{k}.member"))?;
                }
                if values_broken {
                    let what = format!("Map value must satisfy constraint: [{}]", self.rules(val).join(", "));
                    self.report(id, value, path, &what);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A list element or map value: its type, whether it breaks its own rules (reported once
    /// for the whole collection by the caller), and its parts. A null one is reported here.
    fn element(&mut self, id: usize, value: &Value, path: &str) -> Result<bool, BedrockError> {
        if value.is_null() {
            self.report(id, value, path, "Member must not be null");
            return Ok(false);
        }
        let typed = self.typed(id, value, path, false)?;
        let broken = !self.failures(id, &typed).is_empty();
        self.parts(id, value, &typed, path)?;
        Ok(broken)
    }
}

/// A JSON number that is a whole number (`5`, `5.0`), as an `i64`.
fn integer(value: &Value) -> Option<i64> {
    let Value::Number(n) = value else { return None };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // `i64::MAX as f64` rounds up to 2^63, which does not fit; below it every whole f64 does.
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

/// The byte length of a base64 blob (its text length when it is not base64).
fn blob_len(text: &str) -> usize {
    base64::engine::general_purpose::STANDARD.decode(text).map_or(text.len(), |b| b.len())
}

/// Java's `Double.toString`: `2.0`, `0.001`, `1.0E7`, `1.0E-7`.
fn java_double(f: f64) -> String {
    java_decimal(f, f.to_string(), format!("{f:e}"))
}

/// Java's `Float.toString`.
fn java_float(f: f32) -> String {
    java_decimal(f64::from(f), f.to_string(), format!("{f:e}"))
}

/// Java's decimal rendering of `f`, from Rust's shortest `display` and `scientific` forms.
fn java_decimal(f: f64, display: String, scientific: String) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-Infinity" } else { "Infinity" }.to_string();
    }
    if f == 0.0 || (1e-3..1e7).contains(&f.abs()) {
        return if display.contains('.') { display } else { format!("{display}.0") };
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific.as_str(), "0"));
    let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
    format!("{mantissa}E{exponent}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str, query: &[(&str, &str)], body: &str) -> crate::api::Request {
        crate::api::Request {
            route: crate::operations::find(method, path).expect("routed"),
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            headers: http::HeaderMap::new().into(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            duplex: None,
        }
    }

    #[test]
    fn the_operation_input_reads_body_labels_and_typed_query_members() {
        let get = request("GET", "/guardrails/abc123", &[("guardrailVersion", "2"), ("other", "x")], "");
        let input = operation_input(&get).expect("input");
        assert_eq!(Value::Object(input), serde_json::json!({"guardrailIdentifier": "abc123", "guardrailVersion": "2"}));
        let list = request("GET", "/guardrails", &[("maxResults", "5"), ("nextToken", "t")], "");
        assert_eq!(operation_input(&list).expect("input")["maxResults"], serde_json::json!(5));
        let bad = request("GET", "/guardrails", &[("maxResults", "five")], "");
        let e = operation_input(&bad).expect_err("not an integer");
        assert!(
            e.message.contains("'maxResults' failed to satisfy constraint: Member must be an integer"),
            "{}",
            e.message
        );
        let update = request("PUT", "/guardrails/abc123", &[], r#"{"name": "n"}"#);
        let input = operation_input(&update).expect("input");
        assert_eq!((input["name"].as_str(), input["guardrailIdentifier"].as_str()), (Some("n"), Some("abc123")));
    }
    use proptest::prelude::*;
    use serde_json::json;

    fn message(service: &str, operation: &str, input: Value) -> String {
        validate_input(service, operation, &input).expect_err("invalid input").message
    }

    fn guardrail(extra: Value) -> Value {
        let mut input = json!({
            "name": "my-guardrail",
            "blockedInputMessaging": "Sorry, I can't help with that.",
            "blockedOutputsMessaging": "Sorry, I can't answer that."
        });
        if let (Some(base), Value::Object(extra)) = (input.as_object_mut(), extra) {
            base.extend(extra);
        }
        input
    }

    fn topic(i: usize) -> Value {
        json!({"name": format!("topic-{i}"), "definition": "Questions about investing.", "type": "DENY"})
    }

    #[test]
    fn the_generated_table_loads_and_covers_both_services() {
        let table = Table::parse(include_str!("../../data/shapes.json")).expect("shapes.json parses");
        assert_eq!(table.services["bedrock"].operations.len(), 108);
        assert_eq!(table.services["bedrock-runtime"].operations.len(), 11);
        assert_eq!(input_shape("bedrock", "CreateGuardrail"), Some("CreateGuardrailRequest"));
        assert_eq!(output_shape("bedrock", "CreateGuardrail"), Some("CreateGuardrailResponse"));
        assert_eq!(input_shape("bedrock", "NoSuchOperation"), None);
        assert_eq!(payload_member("bedrock-runtime", "InvokeModel"), Some("body"));
    }

    #[test]
    fn every_model_pattern_compiles_with_regex_lite() {
        let table = table();
        let mut failed = Vec::new();
        for service in table.services.values() {
            for shape in &service.shapes {
                if let Some(p) = &shape.pattern {
                    if regex_lite::Regex::new(&format!("^(?:{})$", p.lite)).is_err() {
                        failed.push(format!("{}: {}", shape.name, p.model));
                    }
                }
            }
        }
        assert!(failed.is_empty(), "patterns regex-lite cannot compile (they would match anything): {failed:#?}");
    }

    #[test]
    fn unicode_classes_are_approximated_for_regex_lite() {
        let p = lite_pattern(r"\p{L}[\p{L}\p{M}0-9_]*( [\p{L}\p{M}0-9_]+)*");
        assert!(validate::matches_pattern(&p, "Métrica_1 übersicht"));
        assert!(validate::matches_pattern(&p, "名前"));
        assert!(!validate::matches_pattern(&p, "1abc"));
        assert!(!validate::matches_pattern(&p, "a-b"));
        assert!(!validate::matches_pattern(&p, "a  b"));
        assert_eq!(lite_pattern(r"[a-z\\]+"), r"[a-z\\]+");
    }

    #[test]
    fn located_members_are_listed_with_their_wire_names() {
        assert_eq!(
            members_by_location("bedrock", "ListGuardrails"),
            vec![
                ("guardrailIdentifier", "querystring", "guardrailIdentifier"),
                ("maxResults", "querystring", "maxResults"),
                ("nextToken", "querystring", "nextToken"),
            ]
        );
        assert!(members_by_location("bedrock", "ListInferenceProfiles").contains(&(
            "typeEquals",
            "querystring",
            "type"
        )));
        assert!(members_by_location("bedrock", "UpdateGuardrail").contains(&(
            "guardrailIdentifier",
            "uri",
            "guardrailIdentifier"
        )));
        assert!(members_by_location("bedrock", "CreateGuardrail").is_empty());
    }

    #[test]
    fn create_guardrail_without_a_required_member() {
        let mut input = guardrail(json!({}));
        input.as_object_mut().expect("object").remove("blockedInputMessaging");
        assert_eq!(
            message("bedrock", "CreateGuardrail", input),
            "1 validation error detected: Value null at 'blockedInputMessaging' failed to satisfy constraint: Member must not be null"
        );
        // null is missing.
        let input = guardrail(json!({"blockedOutputsMessaging": null}));
        assert!(message("bedrock", "CreateGuardrail", input).contains("Value null at 'blockedOutputsMessaging'"));
    }

    #[test]
    fn create_guardrail_with_a_bad_name_pattern() {
        // GuardrailName is sensitive in the model: Coral does not echo it.
        insta::assert_snapshot!(message("bedrock", "CreateGuardrail", guardrail(json!({"name": "bad name!"}))));
    }

    #[test]
    fn create_guardrail_with_a_too_long_description() {
        let input = guardrail(json!({"description": "x".repeat(201)}));
        assert_eq!(
            message("bedrock", "CreateGuardrail", input),
            "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 200"
        );
        // 200 characters fit, however many bytes they take.
        assert!(
            validate_input("bedrock", "CreateGuardrail", &guardrail(json!({"description": "é".repeat(200)}))).is_ok()
        );
    }

    #[test]
    fn create_guardrail_with_a_bad_content_filter_type() {
        let input = guardrail(json!({"contentPolicyConfig": {"filtersConfig": [
            {"type": "GORE", "inputStrength": "HIGH", "outputStrength": "HIGH"}
        ]}}));
        insta::assert_snapshot!(message("bedrock", "CreateGuardrail", input));
    }

    #[test]
    fn create_guardrail_with_31_topics() {
        let topics: Vec<Value> = (0..31).map(topic).collect();
        let msg =
            message("bedrock", "CreateGuardrail", guardrail(json!({"topicPolicyConfig": {"topicsConfig": topics}})));
        assert!(
            msg.starts_with(
                "1 validation error detected: Value '[GuardrailTopicConfig(name=*** Sensitive Data Redacted ***, "
            ),
            "{msg}"
        );
        assert!(
            msg.ends_with("' at 'topicPolicyConfig.topicsConfig' failed to satisfy constraint: Member must have length less than or equal to 30"),
            "{msg}"
        );
        let thirty: Vec<Value> = (0..30).map(topic).collect();
        assert!(validate_input(
            "bedrock",
            "CreateGuardrail",
            &guardrail(json!({"topicPolicyConfig": {"topicsConfig": thirty}}))
        )
        .is_ok());
    }

    #[test]
    fn two_errors_are_counted_and_listed_in_model_order() {
        let mut input = guardrail(json!({"description": "x".repeat(201)}));
        input.as_object_mut().expect("object").remove("blockedInputMessaging");
        insta::assert_snapshot!(message("bedrock", "CreateGuardrail", input));
    }

    #[test]
    fn nested_members_are_reported_with_coral_paths() {
        let input = guardrail(json!({
            "topicPolicyConfig": {"topicsConfig": [
                topic(0),
                {"name": "bad/name", "definition": "", "type": "DENY", "examples": ["ok", ""]}
            ]},
            "tags": [{"key": "team", "value": "ml"}, {"key": "", "value": "x"}]
        }));
        assert_eq!(
            message("bedrock", "CreateGuardrail", input),
            "4 validation errors detected: \
             Value at 'topicPolicyConfig.topicsConfig.2.member.name' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [0-9a-zA-Z-_ !?.]+; \
             Value at 'topicPolicyConfig.topicsConfig.2.member.definition' failed to satisfy constraint: \
             Member must have length greater than or equal to 1; \
             Value at 'topicPolicyConfig.topicsConfig.2.member.examples' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must have length less than or equal to 100, \
             Member must have length greater than or equal to 1]; \
             Value '' at 'tags.2.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
    }

    #[test]
    fn lists_of_strings_are_reported_once_with_every_rule_of_their_members() {
        let input = guardrail(json!({"automatedReasoningPolicyConfig": {"policies": ["nope"]}}));
        assert_eq!(
            message("bedrock", "CreateGuardrail", input),
            "1 validation error detected: Value '[nope]' at 'automatedReasoningPolicyConfig.policies' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must have length less than or equal to 2048, Member must have length greater than or equal to 1, \
             Member must satisfy regular expression pattern: arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:automated-reasoning-policy/[a-z0-9]{12}(:([1-9][0-9]{0,11}))?]"
        );
    }

    #[test]
    fn a_valid_create_guardrail_with_every_policy_passes() {
        let input = json!({
            "name": "full-guardrail_1",
            "description": "Blocks investment advice and PII.",
            "topicPolicyConfig": {
                "topicsConfig": [{
                    "name": "Investment advice",
                    "definition": "Recommendations about where to invest money.",
                    "examples": ["Which stocks should I buy?", "Is gold a good investment?"],
                    "type": "DENY",
                    "inputAction": "BLOCK",
                    "outputAction": "NONE",
                    "inputEnabled": true,
                    "outputEnabled": false
                }],
                "tierConfig": {"tierName": "STANDARD"}
            },
            "contentPolicyConfig": {
                "filtersConfig": [
                    {"type": "HATE", "inputStrength": "HIGH", "outputStrength": "MEDIUM",
                     "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["TEXT"],
                     "inputAction": "BLOCK", "outputAction": "BLOCK", "inputEnabled": true, "outputEnabled": true},
                    {"type": "PROMPT_ATTACK", "inputStrength": "HIGH", "outputStrength": "NONE"}
                ],
                "tierConfig": {"tierName": "CLASSIC"}
            },
            "wordPolicyConfig": {
                "wordsConfig": [{"text": "badword", "inputAction": "BLOCK", "outputAction": "NONE"}],
                "managedWordListsConfig": [{"type": "PROFANITY", "inputEnabled": true}]
            },
            "sensitiveInformationPolicyConfig": {
                "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE", "inputAction": "BLOCK"}],
                "regexesConfig": [{"name": "account", "description": "Account numbers", "pattern": "ACC-[0-9]{6}", "action": "BLOCK"}]
            },
            "contextualGroundingPolicyConfig": {
                "filtersConfig": [{"type": "GROUNDING", "threshold": 0.75, "action": "BLOCK", "enabled": true},
                                  {"type": "RELEVANCE", "threshold": 0}],
                "tierConfig": {"tierName": "STANDARD"}
            },
            "automatedReasoningPolicyConfig": {
                "policies": ["arn:aws:bedrock:us-east-1:123456789012:automated-reasoning-policy/abcdefghij12:3"],
                "confidenceThreshold": 1
            },
            "crossRegionConfig": {"guardrailProfileIdentifier": "us.guardrail.v1:0"},
            "blockedInputMessaging": "Sorry, I can't help with that.",
            "blockedOutputsMessaging": "Sorry, I can't answer that.",
            "kmsKeyId": "alias/my-key",
            "tags": [{"key": "team", "value": "ml ops"}],
            "clientRequestToken": "3f1c2d4e-5a6b-7c8d-9e0f-a1b2c3d4e5f6",
            "someFutureMember": {"ignored": true}
        });
        assert_eq!(validate_input("bedrock", "CreateGuardrail", &input), Ok(()));
    }

    #[test]
    fn list_guardrails_max_results_out_of_range() {
        // MaxResults: integer 1..=1000, sent as a query parameter.
        insta::assert_snapshot!(message("bedrock", "ListGuardrails", json!({"maxResults": "0"})));
        assert_eq!(
            message("bedrock", "ListGuardrails", json!({"maxResults": 1001})),
            "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000"
        );
        assert!(validate_input("bedrock", "ListGuardrails", &json!({"maxResults": "1000"})).is_ok());
        assert!(validate_input("bedrock", "ListGuardrails", &json!({})).is_ok());
        assert!(validate_input("bedrock", "ListGuardrails", &Value::Null).is_ok());
        assert_eq!(
            message("bedrock", "ListGuardrails", json!({"maxResults": "ten"})),
            "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must be an integer"
        );
    }

    #[test]
    fn type_errors_are_answered_alone() {
        let input = guardrail(json!({"description": "x".repeat(300), "contentPolicyConfig": "strict"}));
        assert_eq!(
            message("bedrock", "CreateGuardrail", input),
            "1 validation error detected: Value at 'contentPolicyConfig' failed to satisfy constraint: Member must be a structure"
        );
        let input = guardrail(json!({"topicPolicyConfig": {"topicsConfig": [topic(0), 7]}}));
        assert!(message("bedrock", "CreateGuardrail", input).contains("'topicPolicyConfig.topicsConfig.2.member'"));
        assert_eq!(
            validate_input("bedrock", "CreateGuardrail", &json!([1])).expect_err("array").message,
            "The request body must be a JSON object."
        );
    }

    #[test]
    fn at_most_ten_errors_are_listed() {
        let filters: Vec<Value> =
            (0..6).map(|_| json!({"type": "X", "inputStrength": "Y", "outputStrength": "Z"})).collect();
        let input = json!({"contentPolicyConfig": {"filtersConfig": filters}});
        let msg = message("bedrock", "CreateGuardrail", input);
        assert!(msg.starts_with("10 validation errors detected: Value null at 'name'"), "{msg}");
        assert_eq!(msg.matches("failed to satisfy constraint").count(), 10);
    }

    #[test]
    fn unions_need_exactly_one_member() {
        let base = json!({
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "messages": [{"role": "user", "content": [{}]}]
        });
        assert_eq!(
            message("bedrock-runtime", "Converse", base),
            "1 validation error detected: Value at 'messages.1.member.content.1.member' failed to satisfy constraint: Member must have exactly one member set, but none was set"
        );
        let two = json!({
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "messages": [{"role": "user", "content": [{"text": "a", "image": {"format": "png", "source": {"bytes": "AAAA"}}}]}]
        });
        assert!(message("bedrock-runtime", "Converse", two).ends_with("but more than one was set"));
        let fine = json!({
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "messages": [{"role": "user", "content": [{"text": "a", "image": null}]}],
            "inferenceConfig": {"temperature": 0.5, "maxTokens": 10}
        });
        assert_eq!(validate_input("bedrock-runtime", "Converse", &fine), Ok(()));
    }

    #[test]
    fn numbers_follow_the_runtime_wording() {
        let input = json!({
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "messages": [{"role": "user", "content": [{"text": "a"}]}],
            "inferenceConfig": {"temperature": 1.5}
        });
        // The message SPEC.md quotes from live Bedrock.
        assert_eq!(
            message("bedrock-runtime", "Converse", input),
            "1 validation error detected: Value '1.5' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
        );
        let nan = json!({
            "modelId": "m", "messages": [{"role": "user", "content": [{"text": "a"}]}],
            "inferenceConfig": {"temperature": "NaN"}
        });
        assert!(message("bedrock-runtime", "Converse", nan).starts_with("2 validation errors detected: Value 'NaN'"));
    }

    #[test]
    fn java_renders_doubles_like_this() {
        assert_eq!(java_double(2.0), "2.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1e-7), "1.0E-7");
        assert_eq!(java_double(-2.5e-4), "-2.5E-4");
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_double(f64::NAN), "NaN");
    }

    /// Keys that occur in the inputs of the operations fuzzed below, so arbitrary JSON reaches
    /// deep into their shapes.
    fn keys() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("name".to_string()),
            Just("description".to_string()),
            Just("topicPolicyConfig".to_string()),
            Just("topicsConfig".to_string()),
            Just("contentPolicyConfig".to_string()),
            Just("filtersConfig".to_string()),
            Just("type".to_string()),
            Just("examples".to_string()),
            Just("tags".to_string()),
            Just("key".to_string()),
            Just("value".to_string()),
            Just("maxResults".to_string()),
            Just("messages".to_string()),
            Just("content".to_string()),
            Just("text".to_string()),
            Just("image".to_string()),
            Just("source".to_string()),
            Just("bytes".to_string()),
            Just("inferenceConfig".to_string()),
            Just("temperature".to_string()),
            Just("hyperParameters".to_string()),
            Just("requestMetadata".to_string()),
            Just("blockedInputMessaging".to_string()),
            "[a-zA-Z]{1,8}".prop_map(|s| s),
        ]
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            prop_oneof![
                Just("NaN".to_string()),
                Just("DENY".to_string()),
                Just("AAAA".to_string()),
                ".{0,12}".prop_map(|s| s)
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn validation_never_panics_on_arbitrary_json(
            input in arb_json(),
            op in prop::sample::select(vec![
                ("bedrock", "CreateGuardrail"),
                ("bedrock", "UpdateGuardrail"),
                ("bedrock", "ListGuardrails"),
                ("bedrock", "CreateModelCustomizationJob"),
                ("bedrock", "CreateEvaluationJob"),
                ("bedrock-runtime", "Converse"),
                ("bedrock-runtime", "ApplyGuardrail"),
                ("bedrock-runtime", "InvokeModel"),
            ]),
        ) {
            if let Err(e) = validate_input(op.0, op.1, &input) {
                prop_assert!(!e.message.is_empty());
                if let Some((count, _)) = e.message.split_once(" validation error") {
                    let n: usize = count.parse().expect("a count");
                    prop_assert!((1..=MAX_LISTED_ERRORS).contains(&n));
                }
            }
        }
    }
}
