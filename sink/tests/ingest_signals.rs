//! `ingest` and the signals that stop it (the first, SIGTERM cutting the reading short, is in
//! `ingest_identity.rs`): a signal that arrives once every file is read still ends the run
//! with 128 + its number and says so, all of it committed; a second signal ends the process at
//! once, saying so, with the same code, and the next run still gives every line once.

mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn start_ingest(lake: &Path, log: &Path, extra: &[&str]) -> Child {
    ingest_command(lake, &[log], extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `done` every 5 ms for up to 60 s.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether `sig` is pending for process `pid` as a whole (not yet taken by a thread).
fn signal_pending(pid: u32, sig: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or(0);
    mask & (1 << (sig - 1)) != 0
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: a plain signal to a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Every line of the lake's rows once, in order: `(src_offset)` equal to `1..=lines`.
fn assert_every_line_once(lake: &Path, lines: usize) {
    let mut offsets: Vec<i64> = lake_provenance(lake).into_iter().map(|(_, o)| o).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=lines as i64).collect::<Vec<_>>());
}

#[test]
fn a_signal_once_every_file_is_read_still_ends_the_run_with_its_code_all_committed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // 2,000 lines read in one chunk, then committed a row at a time (seconds of commits).
    let log = dir.path().join("part.log");
    let text = std::fs::read_to_string(shared_log("elastic_apache_logs.log")).unwrap();
    let part: String = text.split_inclusive('\n').take(2000).collect();
    std::fs::write(&log, &part).unwrap();
    let size = part.len() as u64;

    let child = start_ingest(&lake, &log, &["--max-rows", "1"]);
    let pid = child.id();
    // Read to its end, and its rows on their way (so the reading has seen that end).
    wait_until("the whole file read", || {
        read_position(pid, &log) == Some(size) && lake.join("year=2015").is_dir()
    });
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{stdout}");
    assert!(
        stdout.contains("2000 rows written")
            && stdout
                .contains("a signal arrived once every file was read: what was read is committed"),
        "{stdout}"
    );
    assert_every_line_once(&lake, 2000);
}

#[test]
fn a_second_signal_ends_ingest_at_once_saying_so_and_the_next_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("big.log");
    let text = std::fs::read(shared_log("elastic_apache_logs.log")).unwrap();
    std::fs::write(&log, text.repeat(30)).unwrap();
    let lines = count_lines(&log);

    // Small files, so that commits come all along the run.
    let child = start_ingest(&lake, &log, &["--max-rows", "100"]);
    wait_until("the first file in the lake", || {
        lake.join("year=2015").is_dir()
    });
    // Two signals pending at once are one: the second is sent once the first is taken.
    signal(&child, libc::SIGINT);
    let pid = child.id();
    wait_until("the first signal taken", || {
        !signal_pending(pid, libc::SIGINT)
    });
    std::thread::sleep(Duration::from_millis(20));
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("accesslake: a second signal: stopping at once"),
        "{stderr}"
    );
    // No summary: the process ended at once.
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = run_ingest(&lake, &[&log], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_every_line_once(&lake, lines);
}
