//! The processes under test: started (CPU-pinned when `taskset` exists), waited for, measured
//! (RSS, CPU time) and stopped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running server.
#[derive(Debug)]
pub(crate) struct Proc {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// From spawn to its "listening" line.
    pub(crate) startup: Duration,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn has_taskset() -> bool {
    Path::new("/usr/bin/taskset").exists() || Path::new("/bin/taskset").exists()
}

/// `program args…` pinned to `cpu`, waiting for a stdout line `… listening on http://ADDR`.
pub(crate) fn spawn(name: &str, program: &Path, args: &[String], cpu: Option<usize>) -> Proc {
    let mut cmd = match cpu.filter(|_| has_taskset()) {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Each at its default log level: switchyard's is `info`, a line per request, as served.
        .stderr(Stdio::null())
        .env_remove("RUST_LOG");
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("listening on http://") {
                let _ = tx.send(line[i + "listening on http://".len()..].trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{name} did not start"));
    Proc {
        startup: started.elapsed(),
        addr: addr.parse().expect("listening address"),
        child,
    }
}

/// A process that does not print its address (LiteLLM): started on `port`, ready when `probe`
/// answers 200.
pub(crate) fn spawn_on_port(mut cmd: Command, port: u16, probe: &str) -> Option<Proc> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let child = cmd.spawn().ok()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().ok()?;
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        if http_get_status(addr, probe) == Some(200) {
            return Some(Proc {
                child,
                addr,
                startup: started.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// A plain blocking GET, for readiness probes.
pub(crate) fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(4999)
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Resident memory in two parts, KiB: anonymous (heap, stacks: the process's own) and
    /// file-backed (mapped code and read-only data of the executable and libraries: clean pages
    /// shared with the page cache that the kernel can drop and read again).
    pub(crate) fn rss_parts_kib(&self) -> (u64, u64) {
        (self.status_kib("RssAnon:"), self.status_kib("RssFile:"))
    }

    /// A `kB` line of `/proc/PID/status`.
    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// User + system CPU time so far (of the process and its threads).
    pub(crate) fn cpu_time(&self) -> Duration {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())) else {
            return Duration::ZERO;
        };
        // Fields after the `(comm)`: utime is the 14th, stime the 15th of the whole line.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields
            .get(11)
            .and_then(|u| u.parse::<u64>().ok())
            .unwrap_or(0)
            + fields
                .get(12)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
        // USER_HZ is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }
}
