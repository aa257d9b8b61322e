//! SigV4 verification (header and query-string forms), as AWS services check a request.
//!
//! The canonical request is rebuilt from what arrived — the raw path encoded once more, as the
//! SDKs do for every service but S3 (a model id's `:` is `%3A` on the wire and `%253A` in the
//! canonical request), the sorted query, the signed headers, the payload hash — and signed with
//! the identity's secret through `aws-sigv4`'s key derivation; signatures are compared in
//! constant time.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::credentials::CredentialStore;
use super::AuthError;

/// How far a request's time may be from the server's (AWS: 5 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// What arrived, as the verifier needs it.
#[derive(Debug)]
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// The path exactly as sent (still percent-encoded).
    pub raw_path: &'a str,
    /// The query string exactly as sent.
    pub raw_query: Option<&'a str>,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// `:authority` (HTTP/2 has no `Host` header).
    pub authority: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// Who signed a verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// The access key id.
    pub access_key_id: String,
    /// Region of the credential scope.
    pub region: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Percent-encodes everything but the unreserved characters (and `/` when `keep_slash`).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

fn canonical_query(raw: Option<&str>, skip_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&decode(k), false), uri_encode(&decode(v), false))
        })
        .filter(|(k, _)| !(skip_signature && k == "X-Amz-Signature"))
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn header_value(req: &SignedRequest<'_>, name: &str) -> Option<String> {
    let values: Vec<String> = req
        .headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    if !values.is_empty() {
        return Some(values.join(","));
    }
    // HTTP/2 carries the host as `:authority`, which the JS SDK signs under that name.
    matches!(name, "host" | ":authority").then(|| req.authority.map(str::to_string)).flatten()
}

fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    raw?.split('&').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (decode(k) == name).then(|| decode(v))
    })
}

/// The parts of a SigV4 signature, from the Authorization header or the query string.
#[derive(Debug)]
struct Parts {
    access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    amz_date: String,
    presigned: bool,
}

fn incomplete(message: &str) -> AuthError {
    AuthError::Incomplete(message.to_string())
}

fn parse_credential(credential: &str) -> Result<(String, String, String, String), AuthError> {
    let fields: Vec<&str> = credential.split('/').collect();
    match fields.as_slice() {
        [key, date, region, service, "aws4_request"] if !key.is_empty() => {
            Ok((key.to_string(), date.to_string(), region.to_string(), service.to_string()))
        }
        _ => Err(incomplete(&format!(
            "Credential should be scoped to a valid region, not '{}'. ",
            fields.get(2).copied().unwrap_or("")
        ))),
    }
}

fn parts(req: &SignedRequest<'_>) -> Result<Parts, AuthError> {
    if let Some(auth) = header_value(req, "authorization") {
        let rest = auth
            .strip_prefix("AWS4-HMAC-SHA256")
            .ok_or_else(|| incomplete("Authorization header requires the AWS4-HMAC-SHA256 algorithm."))?;
        let field = |name: &str| {
            rest.split(',').map(str::trim).find_map(|f| f.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        };
        let credential = field("Credential").ok_or_else(|| {
            incomplete(&format!("Authorization header requires 'Credential' parameter. Authorization={auth}"))
        })?;
        let signed = field("SignedHeaders").ok_or_else(|| {
            incomplete(&format!("Authorization header requires 'SignedHeaders' parameter. Authorization={auth}"))
        })?;
        let signature = field("Signature").ok_or_else(|| {
            incomplete(&format!("Authorization header requires 'Signature' parameter. Authorization={auth}"))
        })?;
        let amz_date = header_value(req, "x-amz-date").ok_or_else(|| {
            incomplete(&format!(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={auth}"
            ))
        })?;
        let (access_key_id, scope_date, region, service) = parse_credential(credential)?;
        return Ok(Parts {
            access_key_id,
            scope_date,
            region,
            service,
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: signature.to_string(),
            amz_date,
            presigned: false,
        });
    }
    let q = req.raw_query;
    if query_param(q, "X-Amz-Algorithm").is_some() {
        let get = |name: &str| {
            query_param(q, name)
                .ok_or_else(|| incomplete(&format!("AWS query-string parameters must include '{name}'.")))
        };
        let (access_key_id, scope_date, region, service) = parse_credential(&get("X-Amz-Credential")?)?;
        return Ok(Parts {
            access_key_id,
            scope_date,
            region,
            service,
            signed_headers: get("X-Amz-SignedHeaders")?.split(';').map(str::to_string).collect(),
            signature: get("X-Amz-Signature")?,
            amz_date: get("X-Amz-Date")?,
            presigned: true,
        });
    }
    Err(AuthError::Missing)
}

/// `20250101T000000Z` → a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    // Digits everywhere else, checked before slicing: a presigned `X-Amz-Date=20150%80T…`
    // decodes to a multi-byte character, and slicing inside it panicked (found by the
    // `sigv4` fuzz target, fuzz/regressions/sigv4/).
    if b.len() != 16
        || b[8] != b'T'
        || b[15] != b'Z'
        || !b.iter().enumerate().all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
    {
        return None;
    }
    let rfc3339 = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    let t = aws_smithy_types::DateTime::from_str(&rfc3339, aws_smithy_types::date_time::Format::DateTime).ok()?;
    SystemTime::try_from(t).ok()
}

/// `20250101T000000Z` for a time.
pub fn format_amz_date(t: SystemTime) -> String {
    let s = aws_smithy_types::DateTime::from(t).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default();
    // 2025-01-01T00:00:00Z (possibly with fractional seconds) → 20250101T000000Z
    let digits: String = s.chars().take(19).filter(char::is_ascii_digit).collect();
    if digits.len() == 14 {
        format!("{}T{}Z", &digits[..8], &digits[8..])
    } else {
        s
    }
}

/// The canonical request and the string to sign.
fn string_to_sign(req: &SignedRequest<'_>, p: &Parts) -> (String, String) {
    let mut signed = p.signed_headers.clone();
    signed.sort();
    // A header named twice is canonicalised once: SDKs never repeat one, and repeats would
    // make the canonical request (and the refusal quoting it) as long as the list times the
    // headers' size.
    signed.dedup();
    let canonical_headers: String =
        signed.iter().map(|h| format!("{h}:{}\n", header_value(req, h).unwrap_or_default())).collect();
    let payload = if p.presigned {
        query_param(req.raw_query, "X-Amz-Content-Sha256").unwrap_or_else(|| "UNSIGNED-PAYLOAD".into())
    } else {
        // A hash the client declares is not taken on trust: the body that arrived is hashed,
        // so a body changed after signing fails the signature (UNSIGNED-PAYLOAD excepted).
        match header_value(req, "x-amz-content-sha256") {
            Some(declared) if declared == "UNSIGNED-PAYLOAD" || declared.starts_with("STREAMING-") => declared,
            _ => sha256_hex(req.body),
        }
    };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri_encode(req.raw_path, true),
        canonical_query(req.raw_query, p.presigned),
        canonical_headers,
        signed.join(";"),
        payload
    );
    let scope = format!("{}/{}/{}/aws4_request", p.scope_date, p.region, p.service);
    let to_sign = format!("AWS4-HMAC-SHA256\n{}\n{scope}\n{}", p.amz_date, sha256_hex(canonical.as_bytes()));
    (canonical, to_sign)
}

/// Verifies a request's SigV4 signature against the store at time `now`.
pub fn verify(store: &CredentialStore, req: &SignedRequest<'_>, now: SystemTime) -> Result<Signer, AuthError> {
    let p = parts(req)?;
    let identity = store.identity(&p.access_key_id).ok_or(AuthError::UnknownKey)?;
    let when = parse_amz_date(&p.amz_date).ok_or_else(|| {
        incomplete(&format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            p.amz_date
        ))
    })?;
    if !p.presigned {
        if let Ok(behind) = now.duration_since(when) {
            if behind > MAX_SKEW {
                return Err(AuthError::Expired {
                    signed: p.amz_date,
                    earliest: format_amz_date(now - MAX_SKEW),
                    now: format_amz_date(now),
                });
            }
        } else if let Ok(ahead) = when.duration_since(now) {
            if ahead > MAX_SKEW {
                return Err(AuthError::NotYetCurrent {
                    signed: p.amz_date,
                    latest: format_amz_date(now + MAX_SKEW),
                    now: format_amz_date(now),
                });
            }
        }
    } else {
        let expires = query_param(req.raw_query, "X-Amz-Expires").and_then(|e| e.parse::<u64>().ok()).unwrap_or(900);
        if now.duration_since(when).is_ok_and(|age| age > Duration::from_secs(expires)) {
            return Err(AuthError::PresignExpired);
        }
    }
    let token = if p.presigned {
        query_param(req.raw_query, "X-Amz-Security-Token")
    } else {
        header_value(req, "x-amz-security-token")
    };
    match (&identity.session_token, token) {
        (Some(want), Some(got)) if bool::from(want.as_bytes().ct_eq(got.as_bytes())) => {}
        (None, None) => {}
        // A token that does not belong to the key: AWS does not say which part is wrong.
        _ => return Err(AuthError::UnknownKey),
    }
    if identity.expiration.is_some_and(|e| now > e) {
        return Err(AuthError::ExpiredToken);
    }
    let key = aws_sigv4::sign::v4::generate_signing_key(&identity.secret_access_key, when, &p.region, &p.service);
    let (canonical_request, string_to_sign) = string_to_sign(req, &p);
    let expected = aws_sigv4::sign::v4::calculate_signature(key, string_to_sign.as_bytes());
    if !bool::from(expected.as_bytes().ct_eq(p.signature.as_bytes())) {
        return Err(AuthError::BadSignature { canonical_request, string_to_sign });
    }
    Ok(Signer { access_key_id: p.access_key_id, region: p.region })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20250102T030405Z").expect("valid");
        assert_eq!(format_amz_date(t), "20250102T030405Z");
        assert!(parse_amz_date("2025-01-02").is_none());
        // 16 bytes, but a multi-byte character where digits belong: refused, never sliced.
        assert!(parse_amz_date("20150\u{fffd}T123000Z").is_none());
        assert!(parse_amz_date("2015083xT123000Z").is_none());
    }

    #[test]
    fn paths_are_encoded_once_more_for_the_canonical_request() {
        assert_eq!(
            uri_encode("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", true),
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        assert_eq!(canonical_query(Some("b=2&a=x%20y&a=1"), false), "a=1&a=x%20y&b=2");
    }

    /// The example of the AWS SigV4 documentation ("GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08").
    #[test]
    fn the_documented_example_signature_verifies() {
        let store = CredentialStore::parse(
            "t",
            "[d]\naws_access_key_id=AKIDEXAMPLE\naws_secret_access_key=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n",
        )
        .expect("valid");
        let mut headers = HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("iam.amazonaws.com"));
        headers
            .insert("content-type", http::HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"));
        headers.insert("x-amz-date", http::HeaderValue::from_static("20150830T123600Z"));
        headers.insert("authorization", http::HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"));
        let req = SignedRequest {
            method: "GET",
            raw_path: "/",
            raw_query: Some("Action=ListUsers&Version=2010-05-08"),
            headers: &headers,
            authority: None,
            body: b"",
        };
        let now = parse_amz_date("20150830T123800Z").expect("time");
        assert_eq!(verify(&store, &req, now).map(|s| s.region), Ok("us-east-1".to_string()));
        let late = parse_amz_date("20150830T124200Z").expect("time");
        assert!(matches!(verify(&store, &req, late), Err(AuthError::Expired { .. })));
        let tampered = SignedRequest { raw_query: Some("Action=ListUsers&Version=2010-05-09"), ..req };
        assert!(matches!(verify(&store, &tampered, now), Err(AuthError::BadSignature { .. })));
    }

    #[test]
    fn a_signed_header_named_many_times_is_canonicalised_once() {
        let mut headers = HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("example"));
        headers.insert("x-amz-date", http::HeaderValue::from_static("20150830T123600Z"));
        let list = vec!["host"; 100_000].join(";");
        let auth = format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders={list}, Signature=00");
        headers.insert("authorization", http::HeaderValue::from_str(&auth).expect("header"));
        let req = SignedRequest {
            method: "GET",
            raw_path: "/",
            raw_query: None,
            headers: &headers,
            authority: None,
            body: b"",
        };
        let (canonical, _) = string_to_sign(&req, &parts(&req).expect("parts"));
        assert!(canonical.len() < 300, "{}", canonical.len());
    }

    /// A presigned URL made by aws-sigv4 itself (query-string form) verifies, and expires.
    #[test]
    fn a_presigned_request_verifies_until_it_expires() {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
        let store =
            CredentialStore::parse("t", "[d]\naws_access_key_id=AKIDPRESIGN\naws_secret_access_key=presign-secret\n")
                .expect("valid");
        let identity: aws_smithy_runtime_api::client::identity::Identity =
            aws_credential_types::Credentials::new("AKIDPRESIGN", "presign-secret", None, None, "test").into();
        let signed_at = parse_amz_date("20261201T100000Z").expect("time");
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("bedrock")
            .time(signed_at)
            .settings(settings)
            .build()
            .expect("params")
            .into();
        let url = "http://127.0.0.1:4599/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
        let signable =
            SignableRequest::new("POST", url, [("host", "127.0.0.1:4599")].into_iter(), SignableBody::UnsignedPayload)
                .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
        let mut request = http::Request::builder().method("POST").uri(url).body(()).expect("request");
        instructions.apply_to_request_http1x(&mut request);
        let mut headers = HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("127.0.0.1:4599"));
        let req = SignedRequest {
            method: "POST",
            raw_path: request.uri().path(),
            raw_query: request.uri().query(),
            headers: &headers,
            authority: None,
            body: b"{}",
        };
        let soon = signed_at + Duration::from_secs(60);
        assert_eq!(verify(&store, &req, soon).map(|s| s.access_key_id), Ok("AKIDPRESIGN".to_string()));
        assert_eq!(verify(&store, &req, signed_at + Duration::from_secs(600)), Err(AuthError::PresignExpired));
    }
}
