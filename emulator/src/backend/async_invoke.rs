//! Asynchronous invocations (StartAsyncInvoke, for Nova Reel video): their records per
//! (account, region), their lifecycle on the injected clock, and their output in a folder
//! that stands in for S3.
//!
//! An invocation is `InProgress` from its start until `duration` has passed on the injected
//! clock (default 1 s); the first request that reads it after that settles it: its output is
//! written under `<s3 dir>/<bucket>/<prefix>/<invocation id>/` — `output.mp4` (a small,
//! structurally valid MP4 placeholder: `ftyp` and an empty `moov`) and `manifest.json` — and
//! it becomes `Completed` with `endTime`; a write that fails makes it `Failed` with the reason
//! in `failureMessage`, and so does a scenario rule's `failure` reply (with its message, and no
//! output written). Records are the GetAsyncInvoke shape; members starting with `_` are
//! private and never listed.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::object_store::{join_key, split_s3_uri, Object, ObjectStore};
use super::state::{public, Scope, Space};
use crate::wire::error::BedrockError;

/// The state kind invocations are kept under.
pub const KIND: &str = "async-invoke";

/// How invocations run.
#[derive(Debug, Clone)]
pub struct AsyncSettings {
    /// Where their output (and invocation-log records) go: the folder standing in for S3, or
    /// a real S3 server.
    pub store: ObjectStore,
    /// How long an invocation stays `InProgress` on the injected clock.
    pub duration: Duration,
}

impl Default for AsyncSettings {
    fn default() -> Self {
        AsyncSettings { store: ObjectStore::default(), duration: Duration::from_secs(1) }
    }
}

/// Output a remote S3 still has to receive: the invocation completes when it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The invocation's id.
    pub id: String,
    /// Its objects.
    pub objects: Vec<Object>,
}

/// A minimal MP4: an `ftyp` box (isom) and a `moov` holding only an `mvhd` (no tracks).
pub fn placeholder_mp4() -> Vec<u8> {
    let mut out = Vec::new();
    let ftyp: &[u8] = b"isom\0\0\x02\0isomiso2mp41";
    out.extend_from_slice(&(8 + ftyp.len() as u32).to_be_bytes());
    out.extend_from_slice(b"ftyp");
    out.extend_from_slice(ftyp);
    // mvhd version 0: flags, creation, modification, timescale 1000, duration 6000 (6 s),
    // rate 1.0, volume 1.0, reserved, the identity matrix, pre-defined, next track id 1.
    let mut mvhd = Vec::new();
    mvhd.extend_from_slice(&[0; 4]);
    mvhd.extend_from_slice(&0u32.to_be_bytes());
    mvhd.extend_from_slice(&0u32.to_be_bytes());
    mvhd.extend_from_slice(&1000u32.to_be_bytes());
    mvhd.extend_from_slice(&6000u32.to_be_bytes());
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes());
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes());
    mvhd.extend_from_slice(&[0; 10]);
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        mvhd.extend_from_slice(&v.to_be_bytes());
    }
    mvhd.extend_from_slice(&[0; 24]);
    mvhd.extend_from_slice(&1u32.to_be_bytes());
    let moov_len = 8 + 8 + mvhd.len() as u32;
    out.extend_from_slice(&moov_len.to_be_bytes());
    out.extend_from_slice(b"moov");
    out.extend_from_slice(&(8 + mvhd.len() as u32).to_be_bytes());
    out.extend_from_slice(b"mvhd");
    out.extend_from_slice(&mvhd);
    out
}

/// What a start records.
pub struct Start<'a> {
    /// The request's input (validated).
    pub input: &'a Map<String, Value>,
    /// The foundation model's ARN.
    pub model_arn: String,
    /// RFC 3339 time of the request.
    pub now: &'a str,
    /// The injected clock's reading, in microseconds.
    pub clock_us: u64,
    /// The `failureMessage` the job ends with instead of completing (a scenario's `failure`).
    pub failure: Option<&'a str>,
}

/// StartAsyncInvoke: the new invocation's ARN.
pub fn start(space: &mut Space, scope: &Scope, s: Start<'_>, settings: &AsyncSettings) -> Value {
    let id = space.mint_id(KIND, 12);
    let arn = scope.arn(&format!("async-invoke/{id}"));
    let due = s.clock_us.saturating_add(u64::try_from(settings.duration.as_micros()).unwrap_or(u64::MAX));
    let mut doc = Map::new();
    doc.insert("invocationArn".into(), json!(arn));
    doc.insert("modelArn".into(), json!(s.model_arn));
    if let Some(t) = s.input.get("clientRequestToken") {
        doc.insert("clientRequestToken".into(), t.clone());
    }
    doc.insert("status".into(), json!("InProgress"));
    doc.insert("submitTime".into(), json!(s.now));
    doc.insert("lastModifiedTime".into(), json!(s.now));
    doc.insert("outputDataConfig".into(), s.input.get("outputDataConfig").cloned().unwrap_or(Value::Null));
    doc.insert("_dueMicros".into(), json!(due));
    doc.insert("_submitMicros".into(), json!(s.clock_us));
    if let Some(tags) = s.input.get("tags") {
        doc.insert("_tags".into(), tags.clone());
    }
    if let Some(failure) = s.failure {
        doc.insert("_failure".into(), json!(failure));
    }
    space.put(KIND, &id, Value::Object(doc));
    json!({"invocationArn": arn})
}

/// The objects an invocation writes: `<prefix>/<id>/output.mp4` and `manifest.json`.
fn outputs(doc: &Value, id: &str) -> Result<Vec<Object>, String> {
    let uri = doc["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].as_str().unwrap_or_default();
    let (bucket, prefix) = split_s3_uri(uri).ok_or_else(|| format!("{uri} is not an S3 URI"))?;
    let manifest = json!({
        "invocationArn": doc["invocationArn"],
        "modelArn": doc["modelArn"],
        "outputs": [format!("s3://{bucket}/{}", join_key(prefix, &format!("{id}/output.mp4")))],
    });
    Ok(vec![
        Object {
            bucket: bucket.to_string(),
            key: join_key(prefix, &format!("{id}/output.mp4")),
            body: placeholder_mp4(),
            content_type: "video/mp4",
        },
        Object {
            bucket: bucket.to_string(),
            key: join_key(prefix, &format!("{id}/manifest.json")),
            body: manifest.to_string().into_bytes(),
            content_type: "application/json",
        },
    ])
}

/// Ends an invocation: `Completed`, or `Failed` with why its output could not be written.
fn finish(doc: &mut Value, written: Result<(), String>, now: &str) {
    if let Some(o) = doc.as_object_mut() {
        o.remove("_uploading");
    }
    match written {
        Ok(()) => doc["status"] = json!("Completed"),
        Err(why) => {
            let uri = doc["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].as_str().unwrap_or_default().to_string();
            doc["status"] = json!("Failed");
            doc["failureMessage"] = json!(format!("The output could not be written to {uri}: {why}"));
        }
    }
    doc["endTime"] = json!(now);
    doc["lastModifiedTime"] = json!(now);
}

/// Settles one due invocation: a scripted failure, output written to the folder, or output
/// handed back for a remote S3 (the invocation stays `InProgress` until [`uploaded`]).
fn complete(doc: &mut Value, id: &str, store: &ObjectStore, now: &str) -> Option<Upload> {
    if let Some(Value::String(failure)) = doc.as_object_mut().and_then(|o| o.remove("_failure")) {
        doc["status"] = json!("Failed");
        doc["failureMessage"] = json!(failure);
        doc["endTime"] = json!(now);
        doc["lastModifiedTime"] = json!(now);
        return None;
    }
    match outputs(doc, id) {
        Ok(objects) if store.is_remote() => {
            doc["_uploading"] = json!(true);
            Some(Upload { id: id.to_string(), objects })
        }
        Ok(objects) => {
            finish(doc, store.put_local(&objects), now);
            None
        }
        Err(why) => {
            finish(doc, Err(why), now);
            None
        }
    }
}

/// Records how an [`Upload`] went.
pub fn uploaded(space: &mut Space, id: &str, written: Result<(), String>, now: &str) {
    if let Some(doc) = space.get_mut(KIND, id) {
        finish(doc, written, now);
    }
}

/// Whether any invocation of the space is due at `clock_us` (reads settle only then).
pub fn any_due(space: &Space, clock_us: u64) -> bool {
    space.all(KIND).any(|(_, d)| is_due(d, clock_us))
}

fn is_due(doc: &Value, clock_us: u64) -> bool {
    doc["status"] == "InProgress"
        && doc.get("_uploading").is_none()
        && doc["_dueMicros"].as_u64().is_some_and(|t| t <= clock_us)
}

/// Settles every invocation of the space that is due at `clock_us`; what a remote S3 must
/// still receive is returned (write it, then report with [`uploaded`]).
pub fn settle(space: &mut Space, clock_us: u64, settings: &AsyncSettings, now: &str) -> Vec<Upload> {
    let due: Vec<String> = space.all(KIND).filter(|(_, d)| is_due(d, clock_us)).map(|(id, _)| id.clone()).collect();
    let mut uploads = Vec::new();
    for id in due {
        if let Some(doc) = space.get_mut(KIND, &id) {
            uploads.extend(complete(doc, &id, &settings.store, now));
        }
    }
    uploads
}

/// GetAsyncInvoke.
pub fn get(space: &Space, scope: &Scope, arn: &str) -> Result<Value, BedrockError> {
    let id = arn.strip_prefix(&scope.arn("async-invoke/")).unwrap_or("");
    space
        .get(KIND, id)
        .map(public)
        // GetAsyncInvoke's model declares no ResourceNotFoundException: an unknown ARN is a
        // validation error the SDKs can type.
        .ok_or_else(|| BedrockError::validation(format!("The async invocation {arn} could not be found.")))
}

/// ListAsyncInvokes' filters.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// `statusEquals`.
    pub status: Option<&'a str>,
    /// `submitTimeAfter` / `submitTimeBefore`, as epoch seconds.
    pub after: Option<f64>,
    /// See `after`.
    pub before: Option<f64>,
    /// `sortOrder: Ascending` (default Descending).
    pub ascending: bool,
}

fn epoch(time: &str) -> Option<f64> {
    aws_smithy_types::DateTime::from_str(time, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|t| t.as_secs_f64())
}

/// The parse of a `submitTime…` filter (RFC 3339).
pub fn parse_time(time: &str) -> Option<f64> {
    epoch(time)
}

/// ListAsyncInvokes: the summaries that pass `filter`, each with its sort key.
pub fn list(space: &Space, filter: &Filter<'_>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = space
        .all(KIND)
        .filter(|(_, d)| filter.status.is_none_or(|s| d["status"] == s))
        .filter(|(_, d)| {
            let t = d["submitTime"].as_str().and_then(epoch).unwrap_or(0.0);
            filter.after.is_none_or(|a| t > a) && filter.before.is_none_or(|b| t < b)
        })
        .map(|(id, d)| {
            let at = d["_submitMicros"].as_u64().unwrap_or(0);
            let order = if filter.ascending { at } else { u64::MAX - at };
            (format!("{order:020}-{id}"), public(d))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_placeholder_is_an_iso_media_file() {
        let mp4 = placeholder_mp4();
        assert_eq!(&mp4[4..8], b"ftyp");
        let ftyp_len = u32::from_be_bytes(mp4[0..4].try_into().expect("4 bytes")) as usize;
        assert_eq!(&mp4[ftyp_len + 4..ftyp_len + 8], b"moov");
        let moov_len = u32::from_be_bytes(mp4[ftyp_len..ftyp_len + 4].try_into().expect("4 bytes")) as usize;
        assert_eq!(ftyp_len + moov_len, mp4.len(), "the boxes cover the file exactly");
        assert_eq!(&mp4[ftyp_len + 12..ftyp_len + 16], b"mvhd");
    }

    #[test]
    fn output_objects_sit_under_the_prefix_and_invocation_id() {
        let doc = json!({"invocationArn": "arn:i", "modelArn": "arn:m",
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/videos/run1/"}}});
        let objects = outputs(&doc, "abc").expect("objects");
        let keys: Vec<_> = objects.iter().map(|o| format!("{}/{}", o.bucket, o.key)).collect();
        assert_eq!(keys, ["bucket/videos/run1/abc/output.mp4", "bucket/videos/run1/abc/manifest.json"]);
        let manifest: Value = serde_json::from_slice(&objects[1].body).expect("json");
        assert_eq!(manifest["outputs"][0], "s3://bucket/videos/run1/abc/output.mp4");
        let bare = json!({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket"}}});
        assert_eq!(outputs(&bare, "abc").expect("objects")[0].key, "abc/output.mp4");
        assert!(outputs(&json!({}), "abc").is_err());
    }

    #[test]
    fn a_remote_store_gets_the_output_and_the_invocation_waits_for_it() {
        // A remote store is only told apart by `is_remote`; the upload itself is the api's.
        let mut doc = json!({"status": "InProgress", "invocationArn": "arn:i", "modelArn": "arn:m",
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bucket/p"}}});
        let upload = outputs(&doc, "i1").map(|objects| Upload { id: "i1".into(), objects }).expect("upload");
        doc["_uploading"] = json!(true);
        assert!(!is_due(&doc, u64::MAX), "an uploading invocation is not settled again");
        finish(&mut doc, Err("refused".into()), "2026-12-02T00:00:01Z");
        assert_eq!(doc["status"], "Failed");
        assert_eq!(doc["failureMessage"], "The output could not be written to s3://bucket/p: refused");
        assert_eq!(upload.objects.len(), 2);
    }

    #[test]
    fn an_invocation_completes_when_it_is_due_and_writes_its_output() {
        let dir = std::env::temp_dir().join(format!("bedrock-emulator-async-{}", std::process::id()));
        let settings = AsyncSettings { store: ObjectStore::Folder(dir.clone()), duration: Duration::from_millis(500) };
        let scope = Scope::new("123456789012", "us-east-1");
        let mut space = Space::default();
        let input = json!({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/out"}}});
        let input = input.as_object().expect("object");
        let start_input =
            Start { input, model_arn: "arn:m".into(), now: "2026-12-02T00:00:00Z", clock_us: 1_000, failure: None };
        let arn = start(&mut space, &scope, start_input, &settings)["invocationArn"].as_str().expect("arn").to_string();
        settle(&mut space, 400_000, &settings, "2026-12-02T00:00:00.4Z");
        assert_eq!(get(&space, &scope, &arn).expect("found")["status"], "InProgress");
        settle(&mut space, 501_000, &settings, "2026-12-02T00:00:01Z");
        let done = get(&space, &scope, &arn).expect("found");
        assert_eq!(done["status"], "Completed");
        assert!(done.get("_dueMicros").is_none());
        let id = arn.rsplit('/').next().expect("id");
        assert_eq!(
            std::fs::read(dir.join("my-bucket/out").join(id).join("output.mp4")).expect("written"),
            placeholder_mp4()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failing_invocation_ends_failed_with_its_message_and_writes_nothing() {
        let dir = std::env::temp_dir().join(format!("bedrock-emulator-async-fail-{}", std::process::id()));
        let settings = AsyncSettings { store: ObjectStore::Folder(dir.clone()), duration: Duration::from_millis(1) };
        let scope = Scope::new("123456789012", "us-east-1");
        let mut space = Space::default();
        let input = json!({"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/p"}}});
        let s = Start {
            input: input.as_object().expect("object"),
            model_arn: "arn:m".into(),
            now: "2026-12-02T00:00:00Z",
            clock_us: 0,
            failure: Some("filtered"),
        };
        let arn = start(&mut space, &scope, s, &settings)["invocationArn"].as_str().expect("arn").to_string();
        assert!(get(&space, &scope, &arn).expect("found").get("_failure").is_none(), "private");
        settle(&mut space, 2_000, &settings, "2026-12-02T00:00:01Z");
        let done = get(&space, &scope, &arn).expect("found");
        assert_eq!((done["status"].as_str(), done["failureMessage"].as_str()), (Some("Failed"), Some("filtered")));
        assert_eq!(done["endTime"], "2026-12-02T00:00:01Z");
        assert!(!dir.exists(), "nothing written");
    }
}
