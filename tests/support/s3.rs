//! A real S3 server for integration tests: SeaweedFS (`weed mini`) on loopback ports.
//!
//! `weed` is looked for in `$INFINI_WEED`, then in the project's `.venv-s3/bin/weed` (installed by
//! `scripts/install-s3-server.sh`), then on `PATH`. Without it, tests skip loudly — except under CI (`CI` set),
//! where they fail.
//!
//! One server is started per test binary and shared; every test gets its own bucket. The server runs under a small
//! `sh` supervisor that reads its standard input: when the test process ends, in any way, the pipe closes and the
//! supervisor sends SIGTERM, then SIGKILL after a timeout, and removes the server's working directory and the gRPC
//! sockets it leaves in `/tmp`.

use infini::backends::BackendError;
use infini::backends::{S3Backend, S3Config, S3Credentials};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// SeaweedFS components that listen on a port plus a gRPC port at +10000.
const COMPONENTS: [&str; 5] = ["s3", "master", "volume", "filer", "admin"];
/// How long the server may take to answer a signed request after starting.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the supervisor waits after SIGTERM before SIGKILL (tenths of a second).
const TERM_GRACE_TENTHS: u32 = 50;

/// Supervisor: starts `weed`, stops it when stdin closes, cleans up after it.
/// Arguments: data dir, space-separated gRPC ports, then the command.
const SUPERVISOR: &str = r#"
dir=$1; ports=$2; shift 2
exec 3<&0
"$@" >"$dir/weed.out" 2>&1 </dev/null 3<&- &
weed=$!
echo "$weed" >"$dir/weed.pid"
(
  read -r _ <&3 || true
  kill -TERM "$weed" 2>/dev/null
  i=0
  while kill -0 "$weed" 2>/dev/null && [ "$i" -lt "$GRACE" ]; do sleep 0.1; i=$((i+1)); done
  kill -KILL "$weed" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$weed"
status=$?
kill "$watcher" 2>/dev/null
for p in $ports; do rm -f /tmp/seaweedfs-*-grpc-"$p".sock; done
rm -rf "$dir"
exit "$status"
"#;

/// A running SeaweedFS server.
pub struct S3Server {
    /// S3 endpoint URL (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    /// S3 port.
    pub port: u16,
    /// Access key accepted by the server.
    pub access_key: String,
    /// Secret key accepted by the server.
    pub secret_key: String,
    /// Working directory (data, logs, identity file).
    pub dir: PathBuf,
    grpc_ports: Vec<u16>,
    supervisor: Mutex<Option<Child>>,
    stdin: Mutex<Option<ChildStdin>>,
}

/// The shared server of this test binary, started on first use. `None` (after a loud message) when `weed` is not
/// installed and we are not under CI.
pub fn server() -> Option<&'static S3Server> {
    static SERVER: OnceLock<Option<S3Server>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let Some(weed) = find_weed() else {
                let msg = "SeaweedFS `weed` not found (set INFINI_WEED, put it on PATH, or run \
                           scripts/install-s3-server.sh)";
                if under_ci() {
                    panic!("{msg}: S3 tests cannot run under CI");
                }
                // Straight to stderr: the test harness captures `eprintln!` of passing tests.
                let _ = writeln!(std::io::stderr(), "\n######## SKIPPING S3 TESTS: {msg} ########\n");
                return None;
            };
            match S3Server::start(&weed) {
                Ok(s) => Some(s),
                Err(e) => panic!("cannot start SeaweedFS ({}): {e}", weed.display()),
            }
        })
        .as_ref()
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Locate the `weed` binary.
pub fn find_weed() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("INFINI_WEED") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "INFINI_WEED={} is not a file", p.display());
        return Some(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-s3/bin/weed");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("weed")).find(|p| p.is_file())
}

/// A port that was free a moment ago, together with `port + 10000`, in 10000..30000 (below the ephemeral range).
fn free_port_pair(taken: &[u16]) -> u16 {
    loop {
        let p: u16 = 10_000 + rand::random::<u16>() % 10_000;
        if taken.contains(&p) {
            continue;
        }
        let ok = TcpListener::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok();
        if ok {
            return p;
        }
    }
}

fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

impl S3Server {
    /// Start a server, retrying with other ports if one was taken meanwhile.
    pub fn start(weed: &Path) -> Result<S3Server, String> {
        let mut errors = Vec::new();
        for _ in 0..3 {
            match S3Server::try_start(weed) {
                Ok(s) => return Ok(s),
                Err(e) => errors.push(e),
            }
        }
        Err(errors.join("\n---\n"))
    }

    fn try_start(weed: &Path) -> Result<S3Server, String> {
        let t0 = Instant::now();
        let dir = std::env::temp_dir().join(format!("infini-weed-{}-{}", std::process::id(), random_hex(4)));
        std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("log")).map_err(|e| e.to_string())?;
        let access_key = format!("AK{}", random_hex(8).to_uppercase());
        let secret_key = random_hex(20);
        let identities = serde_json::json!({
            "identities": [{
                "name": "tester",
                "credentials": [{ "accessKey": access_key, "secretKey": secret_key }],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]
        });
        std::fs::write(dir.join("s3.json"), identities.to_string()).map_err(|e| e.to_string())?;

        let mut ports: Vec<u16> = Vec::new();
        for _ in COMPONENTS {
            let p = free_port_pair(&ports);
            ports.push(p);
        }
        let d = |name: &str| dir.join(name).display().to_string();
        let mut args = vec![
            format!("-logdir={}", d("log")),
            "mini".into(),
            format!("-dir={}", d("data")),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            "-master.telemetry=false".into(),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-s3.autoCreateBucket=false".into(),
            // Every bucket (and storage class) gets volumes of its own, and the tests make many buckets at once.
            // Left at its default the volume count is derived from free disk space, so on a fuller disk a new
            // bucket's first write fails with InternalError; small volumes, and plenty of them, whatever the disk.
            "-master.volumeSizeLimitMB=64".into(),
            "-volume.max=1000".into(),
            format!("-s3.config={}", d("s3.json")),
            format!("-s3.localSocket={}", d("s3.sock")),
            format!("-filer.localSocket={}", d("filer.sock")),
        ];
        for (component, port) in COMPONENTS.iter().zip(&ports) {
            args.push(format!("-{component}.port={port}"));
            args.push(format!("-{component}.port.grpc={}", port + 10_000));
        }
        let grpc_ports: Vec<u16> = ports.iter().map(|p| p + 10_000).collect();
        let grpc_list = grpc_ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(" ");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("sh")
            .arg(&dir)
            .arg(&grpc_list)
            .arg(weed)
            .args(&args)
            .env("GRACE", TERM_GRACE_TENTHS.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning weed: {e}"))?;
        let stdin = child.stdin.take();
        let port = ports[0];
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            access_key,
            secret_key,
            dir,
            grpc_ports,
            supervisor: Mutex::new(Some(child)),
            stdin: Mutex::new(stdin),
        };
        server.wait_ready().map_err(|e| format!("{e}\n{}", server.log_tail()))?;
        eprintln!("SeaweedFS ready at {} in {:.1?}", server.endpoint, t0.elapsed());
        Ok(server)
    }

    /// Wait until a signed request is answered by our server (our random credentials prove it is not another one).
    fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe =
            S3Backend::connect(self.config("readiness-probe"), Some(self.credentials())).map_err(|e| e.to_string())?;
        let mut last = String::from("no answer yet");
        loop {
            if !self.is_alive() {
                return Err(format!("weed exited during startup (last probe: {last})"));
            }
            match probe.ensure_bucket() {
                Err(BackendError::NoBucket { .. }) => break,
                Ok(()) => break,
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?}: {last}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // If a port was taken after all, weed exits although something answered: make sure it is still up.
        std::thread::sleep(Duration::from_millis(300));
        if !self.is_alive() {
            return Err("weed exited right after becoming ready (port clash?)".into());
        }
        Ok(())
    }

    /// Whether the server process is still running.
    pub fn is_alive(&self) -> bool {
        let mut guard = self.supervisor.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last lines of the server's output, for error messages.
    pub fn log_tail(&self) -> String {
        let out = std::fs::read_to_string(self.dir.join("weed.out")).unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        format!("weed output (last lines):\n{}", lines[lines.len().saturating_sub(30)..].join("\n"))
    }

    /// The credentials the server accepts.
    pub fn credentials(&self) -> S3Credentials {
        S3Credentials { access_key_id: self.access_key.clone(), secret_access_key: self.secret_key.clone() }
    }

    /// A configuration for `bucket` on this server (bucket not created).
    pub fn config(&self, bucket: &str) -> S3Config {
        S3Config {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            create_bucket: false,
            storage_class: None,
            response_timeout: None,
        }
    }

    /// A bucket name no other test uses.
    pub fn unique_bucket(&self, hint: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let hint: String = hint.chars().filter(|c| c.is_ascii_alphanumeric()).take(20).collect();
        format!("t{}-{}-{}", N.fetch_add(1, Ordering::SeqCst), hint.to_ascii_lowercase(), random_hex(3))
    }

    /// A configuration for a new, created, empty bucket.
    pub fn fresh_config(&self, hint: &str) -> S3Config {
        let cfg = S3Config { create_bucket: true, ..self.config(&self.unique_bucket(hint)) };
        if let Err(e) = S3Backend::open_with_credentials(cfg.clone(), self.credentials()) {
            panic!("creating bucket {}: {e}\n{}", cfg.bucket, self.log_tail());
        }
        S3Config { create_bucket: false, ..cfg }
    }

    /// A backend on a new, empty bucket.
    pub fn fresh_backend(&self, hint: &str) -> S3Backend {
        let cfg = self.fresh_config(hint);
        match S3Backend::open_with_credentials(cfg, self.credentials()) {
            Ok(b) => b,
            Err(e) => panic!("opening a fresh bucket: {e}"),
        }
    }

    /// The storage class the server reports for `key` (a full key), through a plain SDK client.
    pub fn storage_class_of(&self, bucket: &str, key: &str) -> Option<String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let creds = aws_sdk_s3::config::Credentials::new(&self.access_key, &self.secret_key, None, None, "test");
            let conf = aws_sdk_s3::config::Builder::new()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .endpoint_url(&self.endpoint)
                .region(aws_sdk_s3::config::Region::new("us-east-1"))
                .credentials_provider(creds)
                .force_path_style(true)
                .build();
            let client = aws_sdk_s3::Client::from_conf(conf);
            let head = client.head_object().bucket(bucket).key(key).send().await.expect("head object");
            head.storage_class().map(|c| c.as_str().to_string())
        })
    }

    /// Stop the server and wait for it to be gone (also done by the supervisor when the test process exits).
    pub fn stop(&self) {
        // Closing the supervisor's stdin makes it send SIGTERM, then SIGKILL after the grace period.
        drop(self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take());
        let Some(mut child) = self.supervisor.lock().unwrap_or_else(|e| e.into_inner()).take() else { return };
        let deadline = Instant::now() + Duration::from_secs(u64::from(TERM_GRACE_TENTHS) / 10 + 10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = child.try_wait() {
            // The supervisor itself is stuck: kill the server and the supervisor directly.
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("weed.pid")) {
                let _ = Command::new("kill").arg("-KILL").arg(pid.trim()).status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for p in &self.grpc_ports {
            for component in COMPONENTS {
                let _ = std::fs::remove_file(format!("/tmp/seaweedfs-{component}-grpc-{p}.sock"));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
