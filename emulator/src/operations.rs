//! The operation table and routing by method and raw path segments (SPEC §1): the bottom
//! layer, so that every module above can name operations without importing upward.
//!
//! The table is generated from the AWS service models (`tools/gen_routes.py` →
//! `data/routes.json`): all 119 operations of both services, so one port serves both and an
//! unimplemented operation is still recognised by name. The raw path is split on `/` first
//! and each segment percent-decoded afterwards, so ARNs with `%2F` stay one label.

use std::sync::OnceLock;

use serde::Deserialize;

/// Which AWS service an operation belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Service {
    /// The control plane, `bedrock`.
    #[serde(rename = "bedrock")]
    Bedrock,
    /// Inference, `bedrock-runtime`.
    #[serde(rename = "bedrock-runtime")]
    BedrockRuntime,
}

impl Service {
    /// The service name as AWS spells it.
    pub fn name(self) -> &'static str {
        match self {
            Service::Bedrock => "bedrock",
            Service::BedrockRuntime => "bedrock-runtime",
        }
    }
}

/// One operation's HTTP binding.
#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    /// The service it belongs to.
    pub service: Service,
    /// The operation name from the model, e.g. `ConverseStream`.
    pub operation: String,
    /// HTTP method.
    pub method: String,
    /// URI template, e.g. `/model/{modelId}/converse`.
    pub uri: String,
    /// Success status code.
    pub code: u16,
    /// For operations answering an event stream: the exceptions its union carries.
    #[serde(default, rename = "streamExceptions")]
    pub stream_exceptions: Vec<String>,
    /// Coral's constraints on the URI labels, from the service model.
    #[serde(default)]
    pub labels: Vec<LabelConstraint>,
    /// The template split into segments once at load (routing runs per request).
    #[serde(skip)]
    pub segments: Vec<String>,
}

/// The length and pattern a URI label must satisfy (the service model's string shape).
#[derive(Debug, Clone, Deserialize)]
pub struct LabelConstraint {
    /// The label in the URI template (`modelId`).
    pub label: String,
    /// The input member it binds, which Coral's messages name.
    pub member: String,
    /// Fewest characters.
    #[serde(default)]
    pub min: Option<usize>,
    /// Most characters.
    #[serde(default)]
    pub max: Option<usize>,
    /// A regular expression the whole value must match.
    #[serde(default)]
    pub pattern: Option<String>,
}

#[derive(Deserialize)]
struct RouteFile {
    routes: Vec<Route>,
}

/// A request matched to an operation.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    /// The matched route.
    pub route: &'static Route,
    /// Decoded path labels by name.
    pub labels: Labels,
}

/// A route's decoded path labels, in template order (a route has at most a few).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Labels(Vec<(&'static str, String)>);

impl Labels {
    /// The decoded value of label `name`.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// How many labels the route has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the route has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The decoded values, in template order.
    pub fn values(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = String;

    fn index(&self, name: &str) -> &String {
        self.get(name).unwrap_or_else(|| panic!("no path label {name}"))
    }
}

/// Most segments any route template has; a longer path matches nothing.
const MAX_SEGMENTS: usize = 8;

/// The full route table of both services.
pub fn routes() -> &'static [Route] {
    static TABLE: OnceLock<Vec<Route>> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The file is compiled in and covered by a test; an unparsable table is a build bug.
        let mut routes = serde_json::from_str::<RouteFile>(include_str!("../data/routes.json"))
            .map(|f| f.routes)
            .unwrap_or_default();
        for r in &mut routes {
            r.segments = r.uri.trim_start_matches('/').split('/').map(str::to_string).collect();
        }
        routes
    })
}

/// The exceptions `operation`'s event-stream union carries (empty for unary operations):
/// what may be sent inside its stream.
pub fn stream_exceptions(operation: &str) -> &'static [String] {
    routes().iter().find(|r| r.operation == operation).map_or(&[], |r| r.stream_exceptions.as_slice())
}

/// The routes whose template could match a path starting with `first`: those starting with
/// that literal, and those starting with a label (none today). Grouped once so a request
/// compares a handful of templates, not all 119.
/// Routes by their first literal segment (sorted), and those starting with a label.
type RouteGroups = (Vec<(&'static str, Vec<&'static Route>)>, Vec<&'static Route>);

fn candidates(first: &str) -> impl Iterator<Item = &'static Route> {
    static GROUPS: OnceLock<RouteGroups> = OnceLock::new();
    let (groups, labelled) = GROUPS.get_or_init(|| {
        let mut groups: Vec<(&'static str, Vec<&'static Route>)> = Vec::new();
        let mut labelled = Vec::new();
        for route in routes() {
            let head = route.segments.first().map_or("", String::as_str);
            if head.starts_with('{') {
                labelled.push(route);
            } else if let Some((_, list)) = groups.iter_mut().find(|(h, _)| *h == head) {
                list.push(route);
            } else {
                groups.push((head, vec![route]));
            }
        }
        groups.sort_by_key(|(h, _)| *h);
        (groups, labelled)
    });
    let literal = groups.binary_search_by_key(&first, |(h, _)| *h).map_or(&[][..], |i| groups[i].1.as_slice());
    literal.iter().chain(labelled.iter()).copied()
}

/// Finds the operation for `method` and the raw (still percent-encoded) `path`. Among
/// templates that match, the one with most literal segments wins.
pub fn find(method: &str, path: &str) -> Option<RouteMatch> {
    // Split into a fixed array: routing runs on every request and must not allocate to decide.
    let mut raw = [""; MAX_SEGMENTS];
    let mut n = 0;
    let trimmed = path.trim_start_matches('/');
    // `split('/')` builds a char searcher, and a byte loop looks at each byte: memchr jumps
    // from slash to slash.
    let mut start = 0;
    for end in memchr::memchr_iter(b'/', trimmed.as_bytes()).chain(std::iter::once(trimmed.len())) {
        *raw.get_mut(n)? = &trimmed[start..end];
        n += 1;
        start = end + 1;
    }
    let raw = &raw[..n];
    let mut best: Option<(usize, &'static Route)> = None;
    for route in candidates(raw[0]) {
        // Exact first: hyper hands standard methods over upper-case, as the table has them, and
        // the case-blind compare lower-cases both byte by byte.
        let same_method = route.method == method || route.method.eq_ignore_ascii_case(method);
        if route.segments.len() != raw.len() || !same_method {
            continue;
        }
        let mut literals = 0;
        // From the end: the operation's own segment (`converse`, `invoke`) differs first.
        let matched = route.segments.iter().zip(raw).rev().all(|(t, r)| {
            if t.starts_with('{') {
                !r.is_empty()
            } else if t == *r {
                literals += 1;
                true
            } else {
                false
            }
        });
        if matched && best.is_none_or(|(n, _)| literals > n) {
            best = Some((literals, route));
        }
    }
    let (_, route) = best?;
    let labels = route
        .segments
        .iter()
        .zip(raw)
        .filter(|(t, _)| t.starts_with('{'))
        .map(|(t, r)| (t.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(t), decode_label(r)))
        .collect();
    Some(RouteMatch { route, labels: Labels(labels) })
}

/// A URI label percent-decoded, invalid UTF-8 replaced: what `percent_decode_str(r)
/// .decode_utf8_lossy()` gives, in a byte loop (its iterator was half of routing's cost).
fn decode_label(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let Some(first) = memchr::memchr(b'%', bytes) else { return raw.to_string() };
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut i = first;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
            {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        // Up to the next escape in one copy.
        let next = memchr::memchr(b'%', &bytes[i + 1..]).map_or(bytes.len(), |p| i + 1 + p);
        out.extend_from_slice(&bytes[i..next]);
        i = next;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use percent_encoding::percent_decode_str;

    #[test]
    fn the_table_holds_every_operation_of_both_services() {
        assert_eq!(routes().len(), 119);
        assert_eq!(routes().iter().filter(|r| r.service == Service::BedrockRuntime).count(), 11);
    }

    proptest::proptest! {
        #[test]
        fn labels_decode_like_percent_decoding(raw in "([a-zA-Z0-9.:%-]|%[0-9a-fA-F]{2}|%[fF][0-9a-fA-F]|é){0,24}") {
            proptest::prop_assert_eq!(decode_label(&raw), percent_decode_str(&raw).decode_utf8_lossy().into_owned());
        }
    }

    #[test]
    fn model_ids_with_colons_and_arns_with_slashes_stay_one_label() {
        let m = find("POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse").expect("route");
        assert_eq!(m.route.operation, "Converse");
        assert_eq!(m.labels["modelId"], "anthropic.claude-3-5-sonnet-20240620-v1:0");
        let arn = "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-haiku-20240307-v1%3A0";
        let m = find("POST", &format!("/model/{arn}/converse-stream")).expect("route");
        assert_eq!(m.route.operation, "ConverseStream");
        assert_eq!(
            m.labels["modelId"],
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
        );
    }

    #[test]
    fn stream_unions_list_their_exceptions() {
        assert!(stream_exceptions("ConverseStream").iter().any(|e| e == "ThrottlingException"));
        assert!(!stream_exceptions("ConverseStream").iter().any(|e| e == "ModelTimeoutException"));
        assert!(stream_exceptions("InvokeModelWithResponseStream").iter().any(|e| e == "ModelTimeoutException"));
        assert!(stream_exceptions("Converse").is_empty());
    }

    #[test]
    fn literal_segments_win_over_labels() {
        let m = find("POST", "/custom-models/create-custom-model").expect("route");
        assert_eq!(m.route.operation, "CreateCustomModel");
    }

    #[test]
    fn both_services_share_one_table() {
        assert_eq!(find("GET", "/foundation-models").expect("route").route.operation, "ListFoundationModels");
        assert_eq!(find("GET", "/inference-profiles/x").expect("route").route.operation, "GetInferenceProfile");
        assert!(find("GET", "/nothing-here").is_none());
        assert!(find("DELETE", "/model/x/converse").is_none());
    }
}
