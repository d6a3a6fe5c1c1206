//! An S3-compatible object store: what `stateless-server` and
//! `token-server` use.
//!
//! Each file is one object, `OWNER/ID` in one bucket, where `OWNER` is the
//! SHA-256 of the owner's name and `ID` the file id's text form. The
//! object's `Content-Type` is the file's, and its SHA-256 rides along as
//! user metadata (`x-amz-meta-sha256`): the bytes and their description
//! arrive in one `PUT`, which S3 makes visible whole or not at all.
//!
//! The S3 requests themselves come from the [`object_store`] crate (the one
//! Apache Arrow and DataFusion use for S3, GCS, Azure and local files
//! behind one trait): signing, path-style URLs, connection reuse.
//!
//! # Down or hung
//!
//! A store that is down must not take the node with it. Every call is
//! bounded by a deadline ([`S3Settings::DEFAULT_DEADLINE`], about a second):
//! a refused connection fails at once, a store that accepts connections
//! and answers nothing fails when the deadline passes, and a download
//! whose next chunk does not arrive in time ends with an error rather than
//! hanging. Either way the caller gets [`FileError::Unavailable`], which the
//! app answers with 503 and `Retry-After`. Nothing is cached about the
//! failure: the next call tries the store again, so the node works again as
//! soon as the store is back, without a restart.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore, PutOptions,
    PutPayload, RetryConfig,
};

use crate::id::FileId;
use crate::store::{ByteStream, ContentType, FileError, FileStore, StoredFile, owner_key};

/// The user-metadata key that carries a file's SHA-256.
const SHA256_KEY: &str = "sha256";

/// Where the object store is and how to reach it.
#[derive(Clone)]
pub struct S3Settings {
    endpoint: String,
    bucket: String,
    region: String,
    access_key: String,
    secret_key: String,
    deadline: Duration,
}

/// Why an `--object-store` URL was refused. The message never contains the
/// secret key.
#[derive(Debug, thiserror::Error)]
#[error("bad object-store URL: {0}")]
pub struct BadUrl(String);

impl S3Settings {
    /// How long one call may take before the store counts as unavailable.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);

    /// The region used unless the URL names one (`?region=NAME`).
    pub const DEFAULT_REGION: &'static str = "us-east-1";

    /// Reads `--object-store`: the bucket's path-style URL,
    /// `http://KEY:SECRET@HOST:PORT/BUCKET` (optionally `?region=NAME`).
    /// Without `KEY:SECRET` in the URL, the credentials come from
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`. Plain `http` is
    /// accepted for a loopback host only; anything else must be `https`.
    pub fn from_url(url: &str) -> Result<S3Settings, BadUrl> {
        let parsed = url::Url::parse(url).map_err(|e| BadUrl(e.to_string()))?;
        let host = parsed.host().ok_or_else(|| BadUrl("no host".into()))?;
        let loopback = match host {
            url::Host::Domain(name) => name == "localhost",
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        match parsed.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(BadUrl("plain http is accepted for a loopback host only; use https".into())),
            other => return Err(BadUrl(format!("scheme `{other}` (expected http or https)"))),
        }
        let mut segments = parsed.path_segments().into_iter().flatten().filter(|s| !s.is_empty());
        let (Some(bucket), None) = (segments.next(), segments.next()) else {
            return Err(BadUrl("the path must be exactly the bucket's name, as in http://host:port/bucket".into()));
        };
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8().map(|s| s.into_owned()).ok();
        let (access_key, secret_key) = match (parsed.username(), parsed.password()) {
            ("", None) => match (std::env::var("AWS_ACCESS_KEY_ID"), std::env::var("AWS_SECRET_ACCESS_KEY")) {
                (Ok(key), Ok(secret)) => (key, secret),
                _ => {
                    return Err(BadUrl(
                        "no credentials: give KEY:SECRET@ in the URL or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                            .into(),
                    ));
                }
            },
            (key, Some(secret)) if !key.is_empty() => {
                (decode(key).unwrap_or_default(), decode(secret).unwrap_or_default())
            }
            _ => return Err(BadUrl("credentials must be given as KEY:SECRET@".into())),
        };
        let region = parsed
            .query_pairs()
            .find(|(k, _)| k == "region")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| Self::DEFAULT_REGION.to_string());
        let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
        Ok(S3Settings {
            endpoint: format!("{}://{host}{port}", parsed.scheme()),
            bucket: bucket.to_string(),
            region,
            access_key,
            secret_key,
            deadline: Self::DEFAULT_DEADLINE,
        })
    }

    /// Sets how long one call may take (for each chunk of a download: how
    /// long the next chunk may take).
    pub fn with_deadline(mut self, deadline: Duration) -> S3Settings {
        self.deadline = deadline;
        self
    }

    /// The endpoint, `http(s)://HOST:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The deadline of one call.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }
}

// The secret stays out of Debug output (and so out of logs).
impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Files in a bucket of an S3-compatible object store.
#[derive(Clone, Debug)]
pub struct S3Store {
    bucket: Arc<AmazonS3>,
    deadline: Duration,
}

impl S3Store {
    /// A store for `settings`' bucket. Connects lazily: a store that is
    /// down now is reported by [`health`](FileStore::health) and by each
    /// call, not here.
    pub fn new(settings: &S3Settings) -> Result<S3Store, FileError> {
        let deadline = settings.deadline;
        // A couple of quick retries, all inside the deadline: enough to step
        // over a pooled connection that the store closed when it restarted.
        let retry = RetryConfig {
            backoff: BackoffConfig { init_backoff: Duration::from_millis(10), max_backoff: deadline / 10, base: 2.0 },
            max_retries: 2,
            retry_timeout: deadline,
        };
        let client = ClientOptions::new()
            .with_allow_http(settings.endpoint.starts_with("http://"))
            .with_connect_timeout(deadline);
        let bucket = AmazonS3Builder::new()
            .with_endpoint(&settings.endpoint)
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key)
            .with_secret_access_key(&settings.secret_key)
            .with_virtual_hosted_style_request(false)
            .with_client_options(client)
            .with_retry(retry)
            .build()
            .map_err(|e| FileError::Unavailable(format!("object store client: {e}")))?;
        Ok(S3Store { bucket: Arc::new(bucket), deadline })
    }

    fn path_of(owner: &str, id: FileId) -> Path {
        Path::from(format!("{}/{id}", owner_key(owner)))
    }

    /// Runs one call under the deadline. `Ok(None)`: the object is not
    /// there.
    async fn within<T>(
        &self,
        what: &str,
        call: impl Future<Output = object_store::Result<T>>,
    ) -> Result<Option<T>, FileError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(None),
            Ok(Err(e)) => Err(FileError::Unavailable(format!("{what}: {e}"))),
            Err(_) => Err(FileError::Unavailable(format!("{what}: no answer within {:?}", self.deadline))),
        }
    }
}

impl FileStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn put(&self, owner: &str, content_type: ContentType, bytes: Bytes) -> Result<StoredFile, FileError> {
        let file = StoredFile::for_upload(content_type, &bytes)?;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.as_str().into());
        attributes.insert(Attribute::Metadata(SHA256_KEY.into()), file.sha256.clone().into());
        let options = PutOptions { attributes, ..PutOptions::default() };
        let path = Self::path_of(owner, file.id);
        match self.within("put", self.bucket.put_opts(&path, PutPayload::from_bytes(bytes), options)).await? {
            Some(_) => Ok(file),
            None => Err(FileError::Unavailable("put: the bucket does not exist".into())),
        }
    }

    async fn get(&self, owner: &str, id: &str) -> Result<Option<(StoredFile, ByteStream)>, FileError> {
        let Some(id) = FileId::parse(id) else {
            return Ok(None);
        };
        let path = Self::path_of(owner, id);
        let Some(found) = self.within("get", self.bucket.get_opts(&path, GetOptions::default())).await? else {
            return Ok(None);
        };
        let text = |value: Option<&AttributeValue>| value.map(|v| v.as_ref().to_string());
        let content_type = text(found.attributes.get(&Attribute::ContentType)).and_then(|t| ContentType::parse(&t));
        let sha256 = text(found.attributes.get(&Attribute::Metadata(SHA256_KEY.into())));
        let (Some(content_type), Some(sha256)) = (content_type, sha256) else {
            return Err(FileError::Unavailable(format!("object {path} lacks its content type or digest")));
        };
        let file = StoredFile { id, bytes: found.meta.size, sha256, content_type };
        Ok(Some((file, chunks_within(found.into_stream(), self.deadline))))
    }

    async fn health(&self) -> Result<(), FileError> {
        // Listing a prefix no file uses asks the bucket itself: it fails
        // when the bucket is missing, as a lookup of one key would not.
        let probe = Path::from("health");
        match self.within("health", self.bucket.list_with_delimiter(Some(&probe))).await? {
            Some(_) => Ok(()),
            None => Err(FileError::Unavailable("health: the bucket does not exist".into())),
        }
    }
}

/// `chunks` with a deadline on each chunk: a download that stalls ends with
/// [`FileError::Unavailable`] instead of hanging its reader.
fn chunks_within(chunks: BoxStream<'static, object_store::Result<Bytes>>, deadline: Duration) -> ByteStream {
    futures::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout(deadline, chunks.next()).await {
            Ok(None) => None,
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(chunks))),
            Ok(Some(Err(e))) => Some((Err(FileError::Unavailable(format!("reading an object: {e}"))), None)),
            Err(_) => Some((Err(FileError::Unavailable(format!("reading an object: stalled for {deadline:?}"))), None)),
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_url_gives_endpoint_bucket_and_credentials() {
        let s = S3Settings::from_url("http://key:se%2Fcret@127.0.0.1:9000/files").unwrap();
        assert_eq!(s.endpoint(), "http://127.0.0.1:9000");
        assert_eq!(s.bucket(), "files");
        assert_eq!((s.access_key.as_str(), s.secret_key.as_str()), ("key", "se/cret"));
        assert_eq!(s.region, S3Settings::DEFAULT_REGION);
        assert_eq!(s.deadline(), S3Settings::DEFAULT_DEADLINE);
        let s = S3Settings::from_url("https://k:s@s3.example.org/b/?region=eu-west-3").unwrap();
        assert_eq!((s.endpoint(), s.bucket(), s.region.as_str()), ("https://s3.example.org", "b", "eu-west-3"));
        assert!(!format!("{s:?}").contains("\"s\""), "the secret shows in Debug output");
    }

    #[test]
    fn urls_that_would_leak_or_misroute_are_refused() {
        for bad in [
            "http://k:s@10.0.0.1:9000/files",
            "http://k:s@example.org/files",
            "ftp://k:s@127.0.0.1/files",
            "http://k:s@127.0.0.1:9000/",
            "http://k:s@127.0.0.1:9000/files/more",
            "http://k@127.0.0.1:9000/files",
            "not a url",
        ] {
            let error = S3Settings::from_url(bad).map(|_| ()).unwrap_err().to_string();
            assert!(!error.contains(":s@"), "{error}");
        }
    }
}
