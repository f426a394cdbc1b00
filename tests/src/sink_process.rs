//! The `accesslake` binary as a child process of a test: found, freshly built, spawned, killed.
//!
//! Tests in this crate cannot use `env!("CARGO_BIN_EXE_accesslake")` (the binary belongs to the
//! `accesslake` crate), so [`accesslake_bin`] takes the binary from the target dir of the running
//! test executable (`<target>/<profile>/deps/<test>` → `<target>/<profile>/accesslake`).
//! [`SinkProcess`] wraps a spawned child with `kill -9`, SIGTERM and wait helpers, and kills it on
//! drop. [`free_port`] and [`http_get`] reach its `--metrics-addr`.

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The profile dir of the running test executable (`<target>/ci` under `scripts/test.sh`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("exe dir");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("profile dir").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// Path of the `accesslake` binary beside the running test executable. It must have been built
/// first, in the same profile (`cargo build --profile ci --workspace --all-targets`, as
/// `scripts/test.sh` does): a nested `cargo build -p accesslake` would unify features
/// differently and rebuild.
pub fn accesslake_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = profile_dir().join("accesslake");
        assert!(
            bin.exists(),
            "{} missing: run `cargo build --profile ci --workspace --all-targets` first (or the \
             profile of this test)",
            bin.display()
        );
        bin
    })
}

/// The arguments of `accesslake run` against `broker`: `--brokers`, `--topic`, `--lake`, then
/// `extra` (window, group and librdkafka settings of the test).
pub fn run_args(
    broker: &crate::broker::Broker,
    topic: &str,
    lake: &Path,
    extra: &[&str],
) -> Vec<String> {
    let lake = lake.display().to_string();
    let base = [
        "run",
        "--brokers",
        &broker.bootstrap(),
        "--topic",
        topic,
        "--lake",
        &lake,
    ];
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// [`run_args`] for a member of consumer group `group` whose session ends 6 s after its last
/// heartbeat (so a stopped member's partitions move quickly), with 5-minute windows, files of at
/// most 3,000 rows and an idle flush after 0.5 s: many commits while the stream flows.
pub fn group_args(
    broker: &crate::broker::Broker,
    topic: &str,
    lake: &Path,
    group: &str,
) -> Vec<String> {
    let extra = [
        "--group",
        group,
        "--window-secs",
        "300",
        "--max-rows",
        "3000",
        "--idle-flush-secs",
        "0.5",
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
    ];
    run_args(broker, topic, lake, &extra)
}

/// Waits until one of the files at `logs` (a child's stderr) contains `text`; returns that file.
pub fn wait_for_log<'a>(logs: &[&'a Path], text: &str, limit: Duration) -> Result<&'a Path> {
    let deadline = Instant::now() + limit;
    loop {
        for &log in logs {
            if std::fs::read_to_string(log).is_ok_and(|now| now.contains(text)) {
                return Ok(log);
            }
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = logs
                .iter()
                .map(|l| {
                    format!(
                        "{}:\n{}",
                        l.display(),
                        std::fs::read_to_string(l).unwrap_or_default()
                    )
                })
                .collect();
            bail!("no {text:?} within {limit:?} in\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A spawned `accesslake` (or any) child; killed with SIGKILL on drop if still running.
pub struct SinkProcess {
    child: Child,
    name: String,
}

impl SinkProcess {
    /// Spawns `accesslake ARGS`, stderr appended to `log` (stdout discarded).
    pub fn spawn(args: &[String], envs: &[(&str, &str)], log: &Path, name: &str) -> Result<Self> {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(accesslake_bin())
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .context("spawning accesslake")?;
        Ok(SinkProcess {
            child,
            name: name.to_string(),
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, then reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`TERM`, `STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) -> Result<()> {
        let st = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()?;
        if !st.success() {
            bail!("kill -{name} {} failed", self.name);
        }
        Ok(())
    }

    /// Sends SIGTERM and waits up to `limit` for a clean exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        self.signal("TERM")?;
        self.wait(limit)
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait(&mut self, limit: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it exited already (and how).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }
}

impl Drop for SinkProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A TCP port free on loopback now (for a sink's `--metrics-addr`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The raw HTTP answer to `GET path` at `addr`, or an empty string while nothing listens (the
/// sink starting up).
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
