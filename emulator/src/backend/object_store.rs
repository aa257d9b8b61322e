//! Where the objects the emulator writes "to S3" go (asynchronous-invocation output,
//! invocation-log records): a local folder standing in for S3 (`<dir>/<bucket>/<key>`, the
//! default), or a real S3-compatible server (`--s3-endpoint`: LocalStack, MinIO, moto, …)
//! through `aws-sdk-s3`, path-style, with credentials from the standard AWS chain (or
//! `test`/`test` when the chain has none: local S3 servers accept any).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// How long one request to a remote S3 may take: a server that hangs fails the write (and
/// frees what it held) instead of keeping its task forever.
pub const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One object to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The bucket.
    pub bucket: String,
    /// The key (no leading `/`).
    pub key: String,
    /// The bytes.
    pub body: Vec<u8>,
    /// Its `Content-Type`.
    pub content_type: &'static str,
}

/// Where objects go.
#[derive(Debug, Clone)]
pub enum ObjectStore {
    /// A folder standing in for S3.
    Folder(PathBuf),
    /// A real S3-compatible server.
    Remote(Arc<RemoteS3>),
}

impl Default for ObjectStore {
    fn default() -> Self {
        ObjectStore::Folder(std::env::temp_dir().join("bedrock-emulator-s3"))
    }
}

/// `s3://bucket/prefix…` → (bucket, prefix without slashes at its ends).
pub fn split_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, prefix.trim_matches('/')))
}

/// `prefix/name` (or `name` for an empty prefix).
pub fn join_key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// The file an object is kept in under `dir`: `dir/<bucket>/<key>`, where key parts that
/// would leave the folder (`..`, `.`, empty) are dropped (S3 keys may hold them; a folder
/// cannot). `None` for a bucket that is no folder name.
pub fn local_path(dir: &Path, bucket: &str, key: &str) -> Option<PathBuf> {
    let mut components = Path::new(bucket).components();
    let (Some(Component::Normal(bucket)), None) = (components.next(), components.next()) else { return None };
    let mut path = dir.join(bucket);
    for part in key.split('/').filter(|p| !p.is_empty() && *p != "." && *p != "..") {
        path.push(part);
    }
    Some(path)
}

impl ObjectStore {
    /// Whether writes need the network (and so happen in a task, after the request).
    pub fn is_remote(&self) -> bool {
        matches!(self, ObjectStore::Remote(_))
    }

    /// The folder standing in for S3, if that is where objects go.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            ObjectStore::Folder(dir) => Some(dir),
            ObjectStore::Remote(_) => None,
        }
    }

    /// Writes objects into the folder (a remote store writes nothing here: use [`put`]).
    ///
    /// [`put`]: ObjectStore::put
    pub fn put_local(&self, objects: &[Object]) -> Result<(), String> {
        let Some(dir) = self.folder() else { return Err("objects for a remote S3 are written by put".into()) };
        for o in objects {
            let path = local_path(dir, &o.bucket, &o.key)
                .ok_or_else(|| format!("s3://{}/{} is not an object the S3 folder can hold", o.bucket, o.key))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            std::fs::write(&path, &o.body).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }

    /// The objects at `s3://bucket/key`: that object, or — when `key` is a prefix — every
    /// object under it (sorted by key), each with its body. At most `max_bytes` in all.
    pub async fn read_prefix(
        &self,
        bucket: &str,
        key: &str,
        max_bytes: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, String> {
        match self {
            ObjectStore::Folder(dir) => {
                let path = local_path(dir, bucket, key)
                    .ok_or_else(|| format!("s3://{bucket}/{key} is not an object the S3 folder can hold"))?;
                let mut files = Vec::new();
                if path.is_file() {
                    files.push((key.to_string(), path));
                } else if path.is_dir() {
                    let mut stack = vec![path.clone()];
                    while let Some(d) = stack.pop() {
                        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
                        for entry in entries.flatten() {
                            let p = entry.path();
                            if p.is_dir() {
                                stack.push(p);
                            } else if let Ok(rel) = p.strip_prefix(dir.join(bucket)) {
                                files.push((rel.to_string_lossy().replace('\\', "/"), p));
                            }
                        }
                    }
                } else {
                    return Err(format!("NoSuchKey: s3://{bucket}/{key} does not exist in the S3 folder"));
                }
                files.sort();
                let mut out = Vec::new();
                let mut total = 0usize;
                for (k, p) in files {
                    let body = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                    total += body.len();
                    if total > max_bytes {
                        return Err(format!("the input under s3://{bucket}/{key} is larger than {max_bytes} bytes"));
                    }
                    out.push((k, body));
                }
                Ok(out)
            }
            ObjectStore::Remote(s3) => {
                tokio::time::timeout(REMOTE_TIMEOUT * 4, s3.read_prefix(bucket, key, max_bytes)).await.map_err(
                    |_| format!("reading s3://{bucket}/{key} did not finish within {} s", REMOTE_TIMEOUT.as_secs() * 4),
                )?
            }
        }
    }

    /// Writes objects wherever they go (each remote write given [`REMOTE_TIMEOUT`]).
    pub async fn put(&self, objects: Vec<Object>) -> Result<(), String> {
        match self {
            ObjectStore::Folder(_) => self.put_local(&objects),
            ObjectStore::Remote(s3) => {
                for o in objects {
                    let what = format!("s3://{}/{}", o.bucket, o.key);
                    tokio::time::timeout(REMOTE_TIMEOUT, s3.put(o)).await.map_err(|_| {
                        format!("PutObject {what} did not answer within {} s", REMOTE_TIMEOUT.as_secs())
                    })??;
                }
                Ok(())
            }
        }
    }
}

/// A real S3-compatible server.
pub struct RemoteS3 {
    endpoint: String,
    client: aws_sdk_s3::Client,
}

impl std::fmt::Debug for RemoteS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteS3").field("endpoint", &self.endpoint).finish()
    }
}

/// The standard chain's credentials, else `test`/`test` (from then on: a chain that found
/// nothing would otherwise be asked again, IMDS timeouts included, for every object).
#[derive(Debug)]
struct ChainOrTest(aws_credential_types::provider::SharedCredentialsProvider, std::sync::atomic::AtomicBool);

impl aws_credential_types::provider::ProvideCredentials for ChainOrTest {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use std::sync::atomic::Ordering;
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let test = || aws_credential_types::Credentials::new("test", "test", None, None, "bedrock-emulator");
            if self.1.load(Ordering::Relaxed) {
                return Ok(test());
            }
            match self.0.provide_credentials().await {
                Ok(c) => Ok(c),
                Err(_) => {
                    self.1.store(true, Ordering::Relaxed);
                    Ok(test())
                }
            }
        })
    }
}

impl RemoteS3 {
    /// A client for the S3-compatible server at `endpoint` (region from the standard chain,
    /// else `us-east-1`).
    pub async fn connect(endpoint: &str) -> Self {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http).load().await;
        let chain = shared
            .credentials_provider()
            .unwrap_or_else(|| aws_credential_types::provider::SharedCredentialsProvider::new(NoCredentials));
        let region = shared.region().cloned().unwrap_or_else(|| aws_config::Region::new("us-east-1"));
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .endpoint_url(endpoint)
            .region(region)
            .force_path_style(true)
            .credentials_provider(ChainOrTest(chain, Default::default()))
            .build();
        RemoteS3 { endpoint: endpoint.to_string(), client: aws_sdk_s3::Client::from_conf(config) }
    }

    async fn read_prefix(&self, bucket: &str, key: &str, max_bytes: usize) -> Result<Vec<(String, Vec<u8>)>, String> {
        let failed = |what: &str, e: String| format!("{what} s3://{bucket}/{key} at {} failed: {e}", self.endpoint);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(key)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| failed("ListObjectsV2", aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        // A key that names an object, or a prefix: `key` itself, else what lies under `key/`.
        let under = format!("{}/", key.trim_end_matches('/'));
        let exact = keys.iter().any(|k| k == key);
        keys.retain(|k| if exact { k == key } else { key.is_empty() || k.starts_with(&under) });
        if keys.is_empty() {
            return Err(format!("NoSuchKey: nothing at s3://{bucket}/{key}"));
        }
        keys.sort();
        let mut out = Vec::new();
        let mut total = 0usize;
        for k in keys {
            let object = self
                .client
                .get_object()
                .bucket(bucket)
                .key(&k)
                .send()
                .await
                .map_err(|e| failed("GetObject", aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
            let body = object.body.collect().await.map_err(|e| failed("GetObject", e.to_string()))?.into_bytes();
            total += body.len();
            if total > max_bytes {
                return Err(format!("the input under s3://{bucket}/{key} is larger than {max_bytes} bytes"));
            }
            out.push((k, body.to_vec()));
        }
        Ok(out)
    }

    async fn put(&self, o: Object) -> Result<(), String> {
        self.client
            .put_object()
            .bucket(&o.bucket)
            .key(&o.key)
            .content_type(o.content_type)
            .body(o.body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let detail = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
                format!("PutObject s3://{}/{} at {} failed: {detail}", o.bucket, o.key, self.endpoint)
            })
    }
}

#[derive(Debug)]
struct NoCredentials;

impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Err(
            aws_credential_types::provider::error::CredentialsError::not_loaded("no credentials"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_split_into_bucket_and_prefix() {
        assert_eq!(split_s3_uri("s3://b/p/q/"), Some(("b", "p/q")));
        assert_eq!(split_s3_uri("s3://b"), Some(("b", "")));
        assert_eq!(split_s3_uri("s3:///x"), None);
        assert_eq!(split_s3_uri("https://b/x"), None);
        assert_eq!(join_key("", "a"), "a");
        assert_eq!(join_key("p/q", "a"), "p/q/a");
    }

    #[test]
    fn local_paths_stay_inside_the_folder() {
        let dir = Path::new("/s3");
        assert_eq!(local_path(dir, "bucket", "a/b.json"), Some(PathBuf::from("/s3/bucket/a/b.json")));
        assert_eq!(local_path(dir, "bucket", "a/../../x"), Some(PathBuf::from("/s3/bucket/a/x")));
        assert_eq!(local_path(dir, "..", "x"), None);
        assert_eq!(local_path(dir, "a/b", "x"), None);
    }

    #[test]
    fn the_folder_store_writes_objects_under_bucket_and_key() {
        let dir = std::env::temp_dir().join(format!("object-store-{}", std::process::id()));
        let store = ObjectStore::Folder(dir.clone());
        let o = Object {
            bucket: "out-bucket".into(),
            key: "p/x.json".into(),
            body: b"{}".to_vec(),
            content_type: "application/json",
        };
        store.put_local(std::slice::from_ref(&o)).expect("written");
        assert_eq!(std::fs::read(dir.join("out-bucket/p/x.json")).expect("read"), b"{}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
