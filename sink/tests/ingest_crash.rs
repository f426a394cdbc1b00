//! `ingest` killed with SIGKILL again and again while it commits, each time run anew on the same
//! file: the lake ends with every line once, as a row or as a dead letter, and `check` finds
//! nothing wrong. (`exactly_once.rs` stops the pipeline at each step of a commit in one process;
//! this is the whole binary, its locks, staging and recovery, killed wherever it happens to be.)

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The benchmark's generator on `lines` lines, with a line that does not parse after every
/// 997th: returns the bad lines' numbers.
fn log_with_bad_lines(path: &Path, lines: usize) -> BTreeSet<i64> {
    let generated = path.with_extension("gen");
    let status = Command::new("python3")
        .arg(shared().join("bench/mklog.py"))
        .arg(lines.to_string())
        .arg(&generated)
        .status()
        .expect("run python3 ../shared/bench/mklog.py");
    assert!(status.success());
    let text = std::fs::read_to_string(&generated).unwrap();
    let mut out = std::fs::File::create(path).unwrap();
    let mut bad = BTreeSet::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        n += 1;
        writeln!(out, "{line}").unwrap();
        if (i + 1) % 997 == 0 {
            n += 1;
            writeln!(out, "not an access log line {n}").unwrap();
            bad.insert(n);
        }
    }
    out.sync_all().unwrap();
    bad
}

#[test]
fn ingest_killed_at_many_instants_then_run_again_writes_every_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("access.log");
    let bad = log_with_bad_lines(&log, 60_000);
    let lines = count_lines(&log);
    let size = std::fs::metadata(&log).unwrap().len();
    // 10-minute windows over the generator's three days: about 430 commits, each of a data file,
    // its summary and, now and then, a dead-letter file.
    let args = ["--window-secs", "600"];

    // Run i is killed once it has read past (i + 1) / (RUNS + 1) of the file, plus a few ms;
    // each run first catches up with what the runs before it committed.
    const RUNS: u64 = 16;
    let mut killed = 0;
    let mut resumed = 0;
    for i in 0..RUNS {
        let mut child = ingest_command(&lake, &[&log], &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let threshold = size * (i + 1) / (RUNS + 1);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if read_position(child.id(), &log).is_some_and(|p| p >= threshold) {
                std::thread::sleep(Duration::from_millis(i * 7 % 17));
                // SAFETY: a plain signal to a child this test started and has not reaped.
                unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
                break;
            }
            assert!(Instant::now() < deadline, "run {i} never got that far");
            std::thread::sleep(Duration::from_millis(1));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.signal() {
            Some(libc::SIGKILL) => killed += 1,
            _ => assert!(out.status.success(), "run {i}: {stderr}"),
        }
        resumed += usize::from(!stderr.contains("resume_line=1 "));
        assert!(
            !stderr.contains("missing from the lake"),
            "run {i}: recovery lost a committed file: {stderr}"
        );
    }
    eprintln!("{killed} of {RUNS} runs killed, {resumed} resumed from a commit");
    assert!(
        killed >= RUNS / 2,
        "only {killed} of {RUNS} runs were killed"
    );
    assert!(resumed >= 2, "only {resumed} runs resumed from a commit");

    let summary = stdout_of(run_ingest(&lake, &[&log], &args));
    assert!(summary.contains(&format!("{lines} lines")), "{summary}");

    // Every line once: good lines as rows, bad ones as dead letters, none twice, none lost.
    let mut rows: Vec<i64> = lake_provenance(&lake).into_iter().map(|(_, o)| o).collect();
    rows.sort_unstable();
    let good: Vec<i64> = (1..=lines as i64).filter(|n| !bad.contains(n)).collect();
    assert_eq!(rows.len(), good.len(), "rows: duplicates or losses");
    assert_eq!(rows, good);
    let mut rejected: Vec<i64> = dead_letters(&lake)
        .iter()
        .map(|d| d["line"].as_i64().unwrap())
        .collect();
    rejected.sort_unstable();
    assert_eq!(rejected, bad.into_iter().collect::<Vec<_>>());

    // The lake reads back whole: every file, its summary and the resume state agree.
    let out = accesslake(&["check", "--lake", lake.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
