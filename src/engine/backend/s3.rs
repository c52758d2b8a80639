//! A repository in an S3 bucket (AWS S3 or any compatible server).
//!
//! Layout under the configured prefix: objects at `<prefix>/<name>`, refs at `<prefix>/refs/<name>`.
//!
//! - Objects are written create-only with `If-None-Match: *`, so a name is never replaced.
//! - A ref's [`RefVersion`] is its ETag. Compare-and-swap is a conditional PUT: `If-None-Match: *` to create,
//!   `If-Match: <etag>` to replace; the server lets exactly one of racing writers through.
//! - An ETag is derived from the stored bytes, so rewriting a ref with the value it already has would leave its
//!   version unchanged and let a second racer holding that version through as well. A ref object therefore holds
//!   the value followed by a random 16-byte nonce: every swap produces new bytes and a new version.
//! - A failed precondition is reported by servers as 412, 409 (AWS, concurrent requests) or 404 (`If-Match` on a
//!   missing key). Before reporting a lost race the ref is read back: a write whose response was lost and which
//!   was then repeated (by a proxy, say) is recognised by finding exactly our bytes, nonce included, there.
//!
//! A successful PUT is durable, so [`Backend::sync`] has nothing to do.
//!
//! The SDK is asynchronous; this backend keeps one private multi-threaded tokio runtime for the whole process and
//! exposes synchronous methods that block on it, so it may be used from any number of threads at once. The SDK's
//! own retries are disabled: wrap the backend in [`Retry`](super::retry::Retry) for retries with backoff.
//!
//! Credentials come from the standard AWS chain (environment, profiles, web identity, container and instance
//! metadata) unless given explicitly. `AWS_ENDPOINT_URL` is honoured; whenever an endpoint is configured,
//! path-style addressing is used. The region is, in order: the configuration, `AWS_REGION`/`AWS_DEFAULT_REGION`,
//! the profile, `us-east-1`.

use super::{BResult, Backend, BackendError, ObjectInfo, RefVersion, SharedBytes, MAX_OBJECT_READ};
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::region::ProfileFileRegionProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration, StorageClass};
use aws_sdk_s3::Client;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Where and how to reach a bucket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (without leading or trailing `/`; empty for the bucket root).
    pub prefix: String,
    /// Endpoint URL of an S3-compatible server (`http://127.0.0.1:8333`); `None` for AWS or `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Region; `None` for `AWS_REGION`, the profile's region, or `us-east-1`.
    pub region: Option<String>,
    /// Create the bucket if it does not exist.
    pub create_bucket: bool,
    /// Storage class for pack objects (`objects/...`), e.g. `STANDARD_IA`; index and refs stay `STANDARD`.
    pub storage_class: Option<String>,
    /// Time allowed for the server to start answering a request (the first byte of its response); `None` for
    /// [`DEFAULT_RESPONSE_TIMEOUT`]. A server that accepts connections and never answers fails each attempt after
    /// this long (and [`RetryPolicy::deadline`](super::retry::RetryPolicy::deadline) bounds the retries).
    pub response_timeout: Option<Duration>,
}

impl S3Config {
    /// A configuration for `s3://bucket/prefix` with every other setting at its default.
    pub fn from_url(url: &str) -> Option<S3Config> {
        S3Config::parse(url).ok()
    }

    /// Like [`from_url`](Self::from_url), saying what is wrong with a location that is not one.
    pub fn parse(url: &str) -> Result<S3Config, String> {
        let (bucket, prefix) = check_s3_url(url)?;
        Ok(S3Config { bucket, prefix, ..S3Config::default() })
    }
}

/// Split `s3://bucket/some/prefix` into `("bucket", "some/prefix")`. Slashes around the prefix are dropped.
/// Refused, with the reason, if the URL does not start with `s3://` or the bucket name is not a valid S3 bucket name.
fn check_s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url.strip_prefix("s3://").ok_or("an S3 location starts with s3://")?;
    let (bucket, prefix) = match rest.split_once('/') {
        Some((b, p)) => (b, p),
        None => (rest, ""),
    };
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!("bucket name {bucket:?} must be 3 to 63 characters long"));
    }
    if !bucket.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-') {
        return Err(format!("bucket name {bucket:?} may hold only lowercase letters, digits, '.' and '-'"));
    }
    if !(bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric()))
    {
        return Err(format!("bucket name {bucket:?} must begin and end with a letter or digit"));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.split('/').any(|c| c.is_empty() && !prefix.is_empty()) {
        return Err(format!("prefix {prefix:?} has an empty path segment (\"//\")"));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// An explicit access key, used instead of the AWS credential chain.
#[derive(Clone)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Length of the random nonce stored after a ref's value.
const REF_NONCE_LEN: usize = 16;

/// Time allowed to establish a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`S3Config::response_timeout`]: the time allowed until the first byte of a response. Losing conditional
/// writers may be held for seconds; a server silent for this long is taken to be down.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(20);
/// Time allowed for one request, including the transfer of a large object.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Time allowed to reach the instance metadata service (the last link of the credential chain).
const IMDS_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Time allowed for the instance metadata service to answer.
const IMDS_READ_TIMEOUT: Duration = Duration::from_millis(700);

/// The process-wide runtime every S3 backend blocks on.
fn runtime() -> BResult<&'static Runtime> {
    static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("infini-s3")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    });
    rt.as_ref().map_err(|e| BackendError::Permanent {
        backend: "s3".into(),
        op: "start",
        name: String::new(),
        message: format!("cannot start the async runtime: {e}"),
    })
}

/// Run `fut` to completion on the shared runtime from synchronous code.
fn block_on<F>(fut: F) -> BResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let handle = runtime()?.handle();
    if tokio::runtime::Handle::try_current().is_ok() {
        // Blocking inside another runtime's worker is not allowed: block on a scoped helper thread instead.
        Ok(std::thread::scope(|s| match s.spawn(|| handle.block_on(fut)).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }))
    } else {
        Ok(handle.block_on(fut))
    }
}

/// A backend storing objects and refs in an S3 bucket.
pub struct S3Backend {
    client: Client,
    bucket: String,
    /// Normalized key prefix: empty, or ending in `/`.
    prefix: String,
    region: String,
    endpoint: String,
    storage_class: Option<StorageClass>,
    create_bucket: bool,
    describe: String,
}

/// What an SDK error came down to, before it is mapped to a [`BackendError`] for a particular operation.
struct Failure {
    /// HTTP status, when a response arrived.
    status: Option<u16>,
    /// S3 error code (`NoSuchKey`, `SlowDown`, ...), when the response had one.
    code: Option<String>,
    /// The request never produced a response and retrying cannot help (bad endpoint URL, no credentials).
    permanent: bool,
    /// Full description of the error and its causes.
    message: String,
}

fn failure<E>(err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_string);
    let full = DisplayErrorContext(&err).to_string().to_ascii_lowercase();
    let (permanent, message) = match &err {
        SdkError::ConstructionFailure(_) => (true, root_cause(&err)),
        SdkError::TimeoutError(_) => (false, "timed out".to_string()),
        SdkError::DispatchFailure(d) => {
            // Identity resolution failures surface as "other" dispatch failures.
            let credentials = d.is_other() && full.contains("credential") && !full.contains("timed out");
            let message = if credentials {
                "no credentials found".to_string()
            } else if d.is_timeout() {
                "timed out".to_string()
            } else if d.is_io() {
                format!("cannot connect ({})", root_cause(&err))
            } else {
                root_cause(&err)
            };
            (d.is_user() || credentials, message)
        }
        SdkError::ResponseError(_) => (false, format!("unreadable response ({})", root_cause(&err))),
        _ => {
            let what = match (&code, err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.clone(),
                (None, _) => format!("HTTP status {}", status.unwrap_or(0)),
            };
            (false, what)
        }
    };
    Failure { status, code, permanent, message }
}

/// The innermost cause of an error, on one line: what actually went wrong, without the SDK's wrapping.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(next) = e.source() {
        e = next;
    }
    e.to_string().lines().next().unwrap_or("").trim().to_string()
}

impl S3Backend {
    /// Connect to the bucket described by `cfg` with credentials from the AWS chain, and check that the bucket
    /// exists (creating it if `cfg.create_bucket`).
    pub fn open(cfg: S3Config) -> BResult<S3Backend> {
        let b = S3Backend::connect(cfg, None)?;
        b.ensure_bucket()?;
        Ok(b)
    }

    /// Like [`open`](Self::open), with an explicit access key instead of the credential chain.
    pub fn open_with_credentials(cfg: S3Config, credentials: S3Credentials) -> BResult<S3Backend> {
        let b = S3Backend::connect(cfg, Some(credentials))?;
        b.ensure_bucket()?;
        Ok(b)
    }

    /// Prepare a client for the bucket without contacting the server (no bucket check; see
    /// [`ensure_bucket`](Self::ensure_bucket)). `credentials: None` uses the AWS credential chain.
    pub fn connect(cfg: S3Config, credentials: Option<S3Credentials>) -> BResult<S3Backend> {
        if cfg.bucket.is_empty() {
            return Err(BackendError::Permanent {
                backend: "s3".into(),
                op: "open",
                name: String::new(),
                message: "no bucket name given".into(),
            });
        }
        let region_chain = RegionProviderChain::first_try(cfg.region.clone().map(Region::new))
            .or_else(EnvironmentVariableRegionProvider::new())
            .or_else(ProfileFileRegionProvider::new())
            .or_else(Region::new("us-east-1"));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(cfg.response_timeout.unwrap_or(DEFAULT_RESPONSE_TIMEOUT))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region_chain)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(endpoint) = &cfg.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some(c) = credentials {
            loader = loader.credentials_provider(Credentials::new(
                c.access_key_id,
                c.secret_access_key,
                None,
                None,
                "infini",
            ));
        } else {
            // The standard chain, with a quick instance-metadata probe: off EC2 the default (4 attempts, 1 s
            // timeouts, token then credentials) makes every command without credentials wait about 8 s.
            let imds = aws_config::imds::Client::builder()
                .max_attempts(1)
                .connect_timeout(IMDS_CONNECT_TIMEOUT)
                .read_timeout(IMDS_READ_TIMEOUT)
                .build();
            let region = RegionProviderChain::first_try(cfg.region.clone().map(Region::new))
                .or_else(EnvironmentVariableRegionProvider::new())
                .or_else(ProfileFileRegionProvider::new())
                .or_else(Region::new("us-east-1"));
            let chain = block_on(
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(region)
                    .imds_client(imds)
                    .build(),
            )?;
            loader = loader.credentials_provider(chain);
        }
        let sdk = block_on(loader.load())?;
        let custom_endpoint = sdk.endpoint_url().map(str::to_string);
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
        let s3 = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(custom_endpoint.is_some()).build();
        let client = Client::from_conf(s3);
        let prefix = cfg.prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        let endpoint = custom_endpoint.clone().unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let location = format!("s3://{}/{}", cfg.bucket, prefix.trim_end_matches('/'));
        let describe = match &custom_endpoint {
            Some(e) => format!("{} at {e}", location.trim_end_matches('/')),
            None => location.trim_end_matches('/').to_string(),
        };
        Ok(S3Backend {
            client,
            bucket: cfg.bucket,
            prefix,
            region,
            endpoint,
            storage_class: cfg.storage_class.as_deref().map(StorageClass::from),
            create_bucket: cfg.create_bucket,
            describe,
        })
    }

    /// Check that the bucket exists and the credentials are accepted; create the bucket if it is missing and the
    /// configuration allows it.
    pub fn ensure_bucket(&self) -> BResult<()> {
        let head = block_on(self.client.head_bucket().bucket(&self.bucket).send())?;
        let f = match head {
            Ok(_) => return Ok(()),
            Err(e) => failure(e),
        };
        let missing = f.status == Some(404) || matches!(f.code.as_deref(), Some("NoSuchBucket" | "NotFound"));
        if !missing {
            return Err(self.error("check bucket", "", f));
        }
        if !self.create_bucket {
            return Err(self.no_bucket());
        }
        let mut create = self.client.create_bucket().bucket(&self.bucket);
        if self.region != "us-east-1" {
            create = create.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match block_on(create.send())? {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = failure(e);
                if f.code.as_deref() == Some("BucketAlreadyOwnedByYou") {
                    return Ok(());
                }
                if f.code.as_deref() == Some("BucketAlreadyExists") {
                    return Err(self.permanent(
                        "create bucket",
                        "",
                        format!("bucket {} already exists and belongs to someone else", self.bucket),
                    ));
                }
                Err(self.error("create bucket", "", f))
            }
        }
    }

    /// The bucket this backend stores into.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn ref_key(&self, name: &str) -> String {
        format!("{}refs/{name}", self.prefix)
    }

    fn permanent(&self, op: &'static str, name: &str, message: String) -> BackendError {
        BackendError::Permanent { backend: self.describe.clone(), op, name: name.into(), message }
    }

    fn no_bucket(&self) -> BackendError {
        BackendError::NoBucket { backend: self.endpoint.clone(), bucket: self.bucket.clone() }
    }

    fn transient(&self, op: &'static str, name: &str, message: String) -> BackendError {
        BackendError::Transient { backend: self.describe.clone(), op, name: name.into(), message }
    }

    /// The default mapping of a failure to a backend error.
    fn error(&self, op: &'static str, name: &str, f: Failure) -> BackendError {
        let code = f.code.as_deref().unwrap_or("");
        let status = f.status.unwrap_or(0);
        if code == "NoSuchBucket" {
            return self.no_bucket();
        }
        if matches!(code, "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch") || status == 403 {
            let code = if code.is_empty() { "403 Forbidden" } else { code };
            return BackendError::AccessDenied {
                backend: self.describe.clone(),
                op,
                name: name.into(),
                message: format!("the server answered {code} for bucket {}", self.bucket),
            };
        }
        if status == 404 && code.is_empty() && name.is_empty() {
            // Bucket requests of a real S3 server answer a 404 with an S3 error code (or, to HEAD, only for a
            // missing bucket, which is handled before this); a bare 404 is a server that is not S3 at all.
            return BackendError::WrongService {
                backend: self.describe.clone(),
                op,
                message: "it answered 404 Not Found without an S3 error code".into(),
            };
        }
        if status == 404 || code == "NoSuchKey" {
            return BackendError::NotFound { name: name.into() };
        }
        if f.permanent {
            if f.message == "no credentials found" {
                return BackendError::AccessDenied {
                    backend: self.describe.clone(),
                    op,
                    name: name.into(),
                    message: f.message,
                };
            }
            return self.permanent(op, name, f.message);
        }
        let transient_code = matches!(
            code,
            "SlowDown"
                | "RequestTimeout"
                | "InternalError"
                | "ServiceUnavailable"
                | "Throttling"
                | "ThrottlingException"
                | "RequestTimeTooSkewed"
                | "OperationAborted"
                | "ConditionalRequestConflict"
        );
        let transient_status = status == 0 || status == 408 || status == 409 || status == 429 || status >= 500;
        // A 2xx status with an error means the body was cut off or unreadable.
        if transient_code || transient_status || (200..300).contains(&status) {
            return self.transient(op, name, f.message);
        }
        self.permanent(op, name, f.message)
    }

    /// GET an object (optionally a byte range) and collect its body. `Ok(None)` for a 416 (range not satisfiable).
    fn get(&self, op: &'static str, name: &str, key: String, range: Option<String>) -> BResult<Option<Vec<u8>>> {
        let req = self.client.get_object().bucket(&self.bucket).key(key).set_range(range);
        let r = block_on(async move {
            match req.send().await {
                Ok(out) if out.content_length().unwrap_or(0) as u64 > MAX_OBJECT_READ => Ok(Err(format!(
                    "{} bytes is larger than any object the format has",
                    out.content_length().unwrap_or(0)
                ))),
                Ok(out) => match out.body.collect().await {
                    Ok(b) => Ok(Ok(Ok(b.into_bytes().to_vec()))),
                    Err(e) => Ok(Ok(Err(e.to_string()))),
                },
                Err(e) => Err(failure(e)),
            }
        })?;
        match r {
            Ok(Err(too_large)) => Err(self.permanent(op, name, too_large)),
            Ok(Ok(Ok(body))) => Ok(Some(body)),
            Ok(Ok(Err(read_error))) => {
                Err(self.transient(op, name, format!("reading the response body: {read_error}")))
            }
            Err(f) if f.status == Some(416) => Ok(None),
            Err(f) => Err(self.error(op, name, f)),
        }
    }

    /// HEAD an object: its size.
    fn head(&self, op: &'static str, name: &str) -> BResult<u64> {
        let req = self.client.head_object().bucket(&self.bucket).key(self.key(name));
        match block_on(req.send())? {
            Ok(out) => Ok(out.content_length().unwrap_or(0).max(0) as u64),
            Err(e) => Err(self.error(op, name, failure(e))),
        }
    }

    /// List keys under `key_prefix` (a full key prefix), as (key without `self.prefix`, size).
    /// Keys under `key_prefix` (relative to the repository's prefix), with their sizes and LastModified seconds.
    fn list_keys(&self, op: &'static str, key_prefix: String) -> BResult<Vec<(String, u64, Option<u64>)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&key_prefix)
                .set_continuation_token(token.take());
            let page = match block_on(req.send())? {
                Ok(p) => p,
                Err(e) => return Err(self.error(op, &key_prefix, failure(e))),
            };
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                let Some(rel) = key.strip_prefix(&self.prefix) else { continue };
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                let modified = obj.last_modified().and_then(|t| u64::try_from(t.secs()).ok());
                out.push((rel.to_string(), obj.size().unwrap_or(0).max(0) as u64, modified));
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.sort();
        Ok(out)
    }

    /// GET a ref object as stored (value and nonce) with its ETag; `None` if it does not exist.
    fn read_ref_object(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        let req = self.client.get_object().bucket(&self.bucket).key(self.ref_key(name));
        let r = block_on(async move {
            match req.send().await {
                Ok(out) if out.content_length().unwrap_or(0) as u64 > MAX_OBJECT_READ => {
                    Ok(Err("ref object is larger than any object the format has".to_string()))
                }
                Ok(out) => {
                    let etag = out.e_tag().map(str::to_string);
                    match out.body.collect().await {
                        Ok(b) => Ok(Ok((b.into_bytes().to_vec(), etag))),
                        Err(e) => Ok(Err(e.to_string())),
                    }
                }
                Err(e) => Err(failure(e)),
            }
        })?;
        match r {
            Ok(Ok((data, Some(etag)))) => Ok(Some((data, RefVersion(etag)))),
            Ok(Ok((_, None))) => {
                Err(self.permanent("read ref", name, "the server returned no ETag for the ref".into()))
            }
            Ok(Err(e)) => Err(self.transient("read ref", name, format!("reading the response body: {e}"))),
            Err(f) => match self.error("read ref", name, f) {
                BackendError::NotFound { .. } => Ok(None),
                e => Err(e),
            },
        }
    }

    fn delete_key(&self, op: &'static str, name: &str, key: String) -> BResult<()> {
        let req = self.client.delete_object().bucket(&self.bucket).key(key);
        match block_on(req.send())? {
            Ok(_) => Ok(()),
            Err(e) => match self.error(op, name, failure(e)) {
                BackendError::NotFound { .. } => Ok(()),
                e => Err(e),
            },
        }
    }
}

/// A shared buffer handed to the HTTP client without copying.
struct Body(SharedBytes);

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl S3Backend {
    /// Create-only PUT of an object.
    fn put_new(&self, name: &str, body: ByteStream) -> BResult<()> {
        let storage_class = if name.starts_with("objects/") { self.storage_class.clone() } else { None };
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(name))
            .if_none_match("*")
            .set_storage_class(storage_class)
            .body(body)
            // Objects are authenticated end to end by their own encryption; hashing every byte again for the
            // request signature would only cost CPU.
            .customize()
            .disable_payload_signing();
        match block_on(req.send())? {
            Ok(_) => Ok(()),
            Err(e) => {
                let f = failure(e);
                if f.status == Some(412) {
                    return Err(BackendError::AlreadyExists { name: name.into() });
                }
                Err(self.error("write", name, f))
            }
        }
    }
}

impl Backend for S3Backend {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        match self.get("read", name, self.key(name), None)? {
            Some(body) => Ok(body),
            None => Ok(Vec::new()),
        }
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        if len == 0 {
            self.head("read", name)?;
            return Ok(Vec::new());
        }
        // Servers parse range ends as signed 64-bit numbers: ask for "to the end" when the end is beyond that.
        let range = match offset.checked_add(len - 1) {
            Some(last) if last <= i64::MAX as u64 => format!("bytes={offset}-{last}"),
            _ => format!("bytes={offset}-"),
        };
        let body = self.get("read", name, self.key(name), Some(range))?;
        let Some(mut body) = body else { return Ok(Vec::new()) };
        if body.len() as u64 > len {
            // The server ignored the range and sent the whole object.
            let start = (offset.min(body.len() as u64)) as usize;
            let end = (offset.saturating_add(len).min(body.len() as u64)) as usize;
            body = body[start..end].to_vec();
        }
        Ok(body)
    }

    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        if len == 0 {
            self.head("read", name)?;
            return Ok(Vec::new());
        }
        if len > i64::MAX as u64 {
            return self.read(name);
        }
        let body = self.get("read", name, self.key(name), Some(format!("bytes=-{len}")))?;
        let Some(mut body) = body else { return Ok(Vec::new()) };
        if body.len() as u64 > len {
            body.drain(..body.len() - len as usize);
        }
        Ok(body)
    }

    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        self.put_new(name, ByteStream::from(data.to_vec()))
    }

    fn write_shared(&self, name: &str, data: SharedBytes) -> BResult<()> {
        self.put_new(name, ByteStream::from(bytes::Bytes::from_owner(Body(data))))
    }

    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        Ok(self
            .list_keys("list", self.key(prefix))?
            .into_iter()
            .filter(|(name, _, _)| !name.starts_with("refs/"))
            .map(|(name, size, modified)| ObjectInfo { name, size, modified })
            .collect())
    }

    fn delete(&self, name: &str) -> BResult<()> {
        self.delete_key("delete", name, self.key(name))
    }

    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        match self.read_ref_object(name)? {
            Some((mut stored, version)) => {
                if stored.len() < REF_NONCE_LEN {
                    return Err(self.permanent(
                        "read ref",
                        name,
                        "malformed ref object (shorter than its nonce)".into(),
                    ));
                }
                stored.truncate(stored.len() - REF_NONCE_LEN);
                Ok(Some((stored, version)))
            }
            None => Ok(None),
        }
    }

    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        let mut stored = Vec::with_capacity(data.len() + REF_NONCE_LEN);
        stored.extend_from_slice(data);
        stored.extend_from_slice(&rand::random::<[u8; REF_NONCE_LEN]>());
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.ref_key(name))
            .body(ByteStream::from(stored.clone()));
        req = match expected {
            None => req.if_none_match("*"),
            Some(v) => req.if_match(&v.0),
        };
        match block_on(req.send())? {
            Ok(out) => match out.e_tag() {
                Some(etag) => Ok(RefVersion(etag.to_string())),
                None => {
                    Err(self.permanent("swap ref", name, "the server returned no ETag for a conditional write".into()))
                }
            },
            Err(e) => {
                let f = failure(e);
                if matches!(f.status, Some(412 | 409 | 404)) && f.code.as_deref() != Some("NoSuchBucket") {
                    // Lost the race, unless what is there now is exactly what we sent.
                    return match self.read_ref_object(name)? {
                        Some((current, version)) if current == stored => Ok(version),
                        _ => Err(BackendError::PreconditionFailed { name: name.into() }),
                    };
                }
                Err(self.error("swap ref", name, f))
            }
        }
    }

    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.delete_key("delete ref", name, self.ref_key(name))
    }

    fn list_refs(&self) -> BResult<Vec<String>> {
        let refs_prefix = "refs/";
        Ok(self
            .list_keys("list refs", self.ref_key(""))?
            .into_iter()
            .filter_map(|(name, _, _)| name.strip_prefix(refs_prefix).map(str::to_string))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_urls() {
        assert_eq!(check_s3_url("s3://bucket/prefix").ok(), Some(("bucket".into(), "prefix".into())));
        assert_eq!(check_s3_url("s3://bucket/a/b/").ok(), Some(("bucket".into(), "a/b".into())));
        assert_eq!(check_s3_url("s3://my-bucket.x").ok(), Some(("my-bucket.x".into(), "".into())));
        assert_eq!(check_s3_url("s3://my-bucket/").ok(), Some(("my-bucket".into(), "".into())));
        assert_eq!(check_s3_url("s3://").ok(), None);
        assert_eq!(check_s3_url("s3:///prefix").ok(), None);
        assert_eq!(check_s3_url("s3://Upper/x").ok(), None);
        assert_eq!(check_s3_url("s3://b/x").ok(), None);
        assert_eq!(check_s3_url("s3://bucket/a//b").ok(), None);
        assert_eq!(check_s3_url("http://bucket/prefix").ok(), None);
        assert_eq!(check_s3_url("/some/path").ok(), None);
        let cfg = S3Config::from_url("s3://bucket/p").unwrap();
        assert_eq!((cfg.bucket.as_str(), cfg.prefix.as_str(), cfg.create_bucket), ("bucket", "p", false));
    }

    #[test]
    fn describes_location_and_endpoint() {
        let cfg = S3Config {
            bucket: "bucket".into(),
            prefix: "/repo/".into(),
            endpoint: Some("http://127.0.0.1:1".into()),
            region: Some("eu-west-1".into()),
            ..S3Config::default()
        };
        let creds = S3Credentials { access_key_id: "AK".into(), secret_access_key: "SECRET".into() };
        assert!(!format!("{creds:?}").contains("SECRET"));
        let b = S3Backend::connect(cfg, Some(creds)).unwrap();
        assert_eq!(b.describe(), "s3://bucket/repo at http://127.0.0.1:1");
        assert_eq!(b.key("objects/ab/x"), "repo/objects/ab/x");
        assert_eq!(b.ref_key("main"), "repo/refs/main");
        assert_eq!(b.endpoint(), "http://127.0.0.1:1");
    }

    #[test]
    fn usable_from_inside_an_async_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let cfg = S3Config {
                bucket: "bucket".into(),
                endpoint: Some("http://127.0.0.1:1".into()),
                region: Some("us-east-1".into()),
                ..S3Config::default()
            };
            let creds = S3Credentials { access_key_id: "AK".into(), secret_access_key: "SK".into() };
            let b = S3Backend::connect(cfg, Some(creds)).unwrap();
            assert!(b.read("objects/x").unwrap_err().is_transient());
        });
    }

    #[test]
    fn closed_port_is_transient() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let cfg = S3Config {
            bucket: "bucket".into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: Some("us-east-1".into()),
            ..S3Config::default()
        };
        let creds = S3Credentials { access_key_id: "AK".into(), secret_access_key: "SK".into() };
        let b = S3Backend::connect(cfg, Some(creds)).unwrap();
        let e = b.read("objects/x").unwrap_err();
        assert!(e.is_transient(), "{e:?}");
        let e = b.ensure_bucket().unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }
}
