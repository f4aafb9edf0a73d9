//! Starting the real `switchyard` binary for a test, and stopping it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::switchyard_bin;

/// How long a gateway may take to print its "listening" line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `switchyard serve`, killed when dropped.
#[derive(Debug)]
pub struct RunningGateway {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
    /// Time from spawn to the "listening" line.
    pub startup: Duration,
}

impl RunningGateway {
    /// Writes `config_yaml` to a temp file and serves it with the plugins in `plugin_dir`, on an
    /// ephemeral loopback port.
    /// Returns once the tenancy database has opened (or failed), so a test's first request is
    /// not answered 503 `db_starting` — the gateway listens before its database is ready.
    pub fn start(config_yaml: &str, plugin_dir: &Path) -> RunningGateway {
        let gw = Self::start_with(Some(config_yaml), plugin_dir, &[], &[]);
        gw.wait_settled();
        gw
    }

    /// Waits until `/health/readiness` no longer reports the database as `starting`.
    pub fn wait_settled(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            match self.get_raw("/health/readiness") {
                Some(body) if !body.contains("\"db\":\"starting\"") => return,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        panic!(
            "switchyard's database did not settle; stderr:\n{}",
            self.stderr()
        );
    }

    /// A GET of `path` over a fresh connection: the whole response, or `None`.
    fn get_raw(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let addr = self.base_url.strip_prefix("http://")?;
        let mut stream = std::net::TcpStream::connect(addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    }

    /// Full control: `config_yaml: None` serves the embedded quickstart; `env` adds variables.
    pub fn start_with(
        config_yaml: Option<&str>,
        plugin_dir: &Path,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> RunningGateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let stderr_path = dir.path().join("stderr.log");
        let mut cmd = Command::new(switchyard_bin());
        cmd.arg("serve");
        if let Some(yaml) = config_yaml {
            let config_path = dir.path().join("config.yaml");
            std::fs::write(&config_path, yaml).expect("write config");
            cmd.arg("--config").arg(&config_path);
        }
        cmd.arg("--plugin-dir")
            .arg(plugin_dir)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(extra_args)
            .env_remove("SWITCHYARD_CONFIG")
            .env_remove("SWITCHYARD_PLUGIN_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
        // Keys, users, teams and spend go to a database of this gateway's own.
        cmd.env(
            "SWITCHYARD_SWITCHYARD__DATABASE_PATH",
            dir.path().join("switchyard.db"),
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn switchyard");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("switchyard listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let base_url = match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "switchyard did not start (exit: {status:?}); stderr:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        };
        RunningGateway {
            child: Some(child),
            base_url,
            stderr_path,
            _dir: dir,
            startup: started.elapsed(),
        }
    }

    /// The config file the gateway was started with (a test may rewrite it and reload).
    pub fn config_path(&self) -> PathBuf {
        self._dir.path().join("config.yaml")
    }

    /// Sends SIGHUP (config reload).
    pub fn hangup(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-HUP", &child.id().to_string()])
                .status();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything the gateway logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size of the process, in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `switchyard ARGS` to completion (for the CLI subcommands).
pub fn run_switchyard(args: &[&str]) -> Output {
    Command::new(switchyard_bin())
        .args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .env_remove("SWITCHYARD_PLUGIN_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run switchyard")
}

/// Runs `tests/python/<script>` with the test venv's Python (`SWITCHYARD_TEST_PYTHON`, set by
/// `scripts/test`) against `base_url` with `api_key`, and returns the JSON it prints; panics
/// with the script's output and the gateway's log when it fails.
pub fn run_python_client(
    script: &str,
    gw: &RunningGateway,
    base_url: &str,
    api_key: &str,
) -> serde_json::Value {
    let python = std::env::var("SWITCHYARD_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "SWITCHYARD_TEST_PYTHON is not set: run the suite with ./scripts/test, which sets up \
             a venv with the pinned client SDKs"
        )
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let out = Command::new(python)
        .arg(path)
        .arg(base_url)
        .arg(api_key)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}\ngateway log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    serde_json::from_slice(&out.stdout).expect("script prints JSON")
}
