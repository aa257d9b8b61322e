//! Model invocation logging: the account's logging configuration (one per account and region,
//! Put/Get/DeleteModelInvocationLoggingConfiguration) and the log records written, while one
//! with an `s3Config` is set, for every answered inference call (Converse, ConverseStream,
//! InvokeModel, InvokeModelWithResponseStream) into the folder that stands in for S3:
//!
//! `<s3 dir>/<bucketName>/<keyPrefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/<YYYY>/<MM>/<DD>/<HH>/<YYYYMMDDTHHMMSSZ>_<requestId>.json`
//!
//! one record per file, uncompressed (AWS batches records into `.json.gz` files under the same
//! folders). The record has AWS's documented fields; `textDataDeliveryEnabled: false` leaves
//! the request and response bodies out.

use serde_json::{json, Map, Value};

use super::object_store::{join_key, Object};
use super::state::{Scope, Space};

/// The state kind the configuration is kept under (one record, id [`ID`]).
pub const KIND: &str = "invocation-logging";
const ID: &str = "config";

/// PutModelInvocationLoggingConfiguration: replaces the configuration.
pub fn put(space: &mut Space, config: &Value) {
    space.put(KIND, ID, config.clone());
}

/// GetModelInvocationLoggingConfiguration: the configuration, if one is set.
pub fn get(space: &Space) -> Option<Value> {
    space.get(KIND, ID).cloned()
}

/// DeleteModelInvocationLoggingConfiguration.
pub fn delete(space: &mut Space) {
    space.remove(KIND, ID);
}

/// What one logged invocation says.
pub struct Invocation<'a> {
    /// `Converse`, `InvokeModel`, …
    pub operation: &'a str,
    /// The `modelId` the request named.
    pub model_id: &'a str,
    /// The request id the response carried.
    pub request_id: &'a str,
    /// RFC 3339 time of the request.
    pub timestamp: &'a str,
    /// The request body as JSON.
    pub input: Value,
    /// The response body (a JSON document, or a stream's events in order).
    pub output: Value,
    /// Input and output tokens.
    pub tokens: (u32, u32),
}

/// The log record of `call` under `config`, as AWS documents it.
pub fn record(config: &Value, scope: &Scope, call: &Invocation<'_>) -> Value {
    let text = config.get("textDataDeliveryEnabled").and_then(Value::as_bool) != Some(false);
    let mut input = Map::new();
    input.insert("inputContentType".into(), json!("application/json"));
    if text {
        input.insert("inputBodyJson".into(), call.input.clone());
    }
    input.insert("inputTokenCount".into(), json!(call.tokens.0));
    let mut output = Map::new();
    output.insert("outputContentType".into(), json!("application/json"));
    if text {
        output.insert("outputBodyJson".into(), call.output.clone());
    }
    output.insert("outputTokenCount".into(), json!(call.tokens.1));
    json!({
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": call.timestamp,
        "accountId": scope.account,
        "identity": {"arn": format!("arn:aws:iam::{}:user/bedrock-emulator", scope.account)},
        "region": scope.region,
        "requestId": call.request_id,
        "operation": call.operation,
        "modelId": call.model_id,
        "input": input,
        "output": output,
    })
}

/// An S3 bucket name by S3's rules (3–63 lower-case letters, digits, `.` and `-`, starting and
/// ending with a letter or digit, no `..`): anything else could not be a bucket, and must not
/// become a folder name outside the S3 stand-in.
pub fn valid_bucket(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=63).contains(&b.len())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && !name.contains("..")
}

/// Where the record of a call at `timestamp` goes under `config`'s `s3Config`: (bucket, key);
/// None without one, or for a bucket name no bucket can have.
pub fn record_location(config: &Value, scope: &Scope, request_id: &str, timestamp: &str) -> Option<(String, String)> {
    let s3 = config.get("s3Config")?;
    let bucket = s3.get("bucketName").and_then(Value::as_str).filter(|b| valid_bucket(b))?;
    let prefix = s3.get("keyPrefix").and_then(Value::as_str).unwrap_or_default().trim_matches('/');
    // 2026-12-02T08:20:31.123Z → date folders and the file stamp.
    let digits: String = timestamp.chars().filter(char::is_ascii_digit).take(14).collect();
    if digits.len() < 14 {
        return None;
    }
    let (y, m, d, h) = (&digits[0..4], &digits[4..6], &digits[6..8], &digits[8..10]);
    let file: String = format!("{}T{}Z_{request_id}.json", &digits[0..8], &digits[8..14])
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    let key = join_key(
        prefix,
        &format!("AWSLogs/{}/BedrockModelInvocationLogs/{}/{y}/{m}/{d}/{h}/{file}", scope.account, scope.region),
    );
    Some((bucket.to_string(), key))
}

/// The object holding a record.
pub fn record_object((bucket, key): (String, String), record: &Value) -> Object {
    Object { bucket, key, body: record.to_string().into_bytes(), content_type: "application/json" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Invocation<'static> {
        Invocation {
            operation: "Converse",
            model_id: "amazon.nova-micro-v1:0",
            request_id: "abc-123",
            timestamp: "2026-12-02T08:20:31.123Z",
            input: json!({"messages": []}),
            output: json!({"output": {}}),
            tokens: (3, 4),
        }
    }

    #[test]
    fn records_have_awss_fields_and_text_delivery_decides_the_bodies() {
        let scope = Scope::new("123456789012", "eu-west-1");
        let r = record(&json!({"s3Config": {"bucketName": "logs"}}), &scope, &call());
        assert_eq!(r["schemaType"], "ModelInvocationLog");
        assert_eq!(r["input"]["inputBodyJson"], json!({"messages": []}));
        assert_eq!(r["output"]["outputTokenCount"], 4);
        assert_eq!((r["accountId"].as_str(), r["region"].as_str()), (Some("123456789012"), Some("eu-west-1")));
        let quiet = record(&json!({"textDataDeliveryEnabled": false}), &scope, &call());
        assert!(quiet["input"].get("inputBodyJson").is_none() && quiet["output"].get("outputBodyJson").is_none());
    }

    #[test]
    fn records_go_under_awslogs_by_hour_and_stay_in_the_folder() {
        let scope = Scope::new("123456789012", "us-east-1");
        let config = json!({"s3Config": {"bucketName": "logs", "keyPrefix": "team/x/"}});
        let (bucket, key) =
            record_location(&config, &scope, "abc-123", "2026-12-02T08:20:31.123Z").expect("a location");
        assert_eq!(bucket, "logs");
        assert_eq!(
            key,
            "team/x/AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1/2026/12/02/08/20261202T082031Z_abc-123.json"
        );
        // In the folder standing in for S3, parts that would leave it are dropped.
        let escape = json!({"s3Config": {"bucketName": "logs", "keyPrefix": "../../x"}});
        let (bucket, key) = record_location(&escape, &scope, "r", "2026-12-02T08:20:31Z").expect("a location");
        let path = super::super::object_store::local_path(std::path::Path::new("/s3"), &bucket, &key).expect("path");
        assert!(path.starts_with("/s3/logs/x/AWSLogs"), "{}", path.display());
        assert!(record_location(&json!({}), &scope, "r", "2026-12-02T08:20:31Z").is_none());
        assert!(
            record_location(&json!({"s3Config": {"bucketName": ".."}}), &scope, "r", "2026-12-02T08:20:31Z").is_none()
        );
        assert!(
            valid_bucket("my-logs.2026") && !valid_bucket("../x") && !valid_bucket("Logs") && !valid_bucket("a..b")
        );
    }
}
