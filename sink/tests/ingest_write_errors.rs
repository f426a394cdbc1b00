//! What `ingest` does when an error stops it midway. When the disk refuses a write (a full
//! disk, a quota, a file size limit): it stops with one line naming the file it could not
//! write, every file it had published stays whole and readable, and running it again once the
//! disk takes writes adds exactly the lines that were missing. The refusal is made real by the
//! kernel: the child runs under `RLIMIT_FSIZE` with `SIGXFSZ` ignored, so a write past the
//! limit fails with `EFBIG` as a write to a full disk fails with `ENOSPC`. And when a later
//! input file fails, the summary of the files before it (committed) is printed first.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `cmd` with no file allowed to grow past `max_file_bytes`.
fn with_file_limit(mut cmd: Command, max_file_bytes: u64) -> Output {
    // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            let limit = libc::rlimit {
                rlim_cur: max_file_bytes,
                rlim_max: max_file_bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run accesslake")
}

/// The sizes of the lake's data files, smallest first.
fn file_sizes(lake: &Path) -> Vec<u64> {
    let mut sizes: Vec<u64> = parquet_files(lake)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .collect();
    sizes.sort_unstable();
    sizes
}

#[test]
fn a_refused_write_stops_ingest_cleanly_and_a_rerun_adds_exactly_the_missing_lines() {
    let log = shared_log("elastic_apache_logs.log");
    let lines = count_lines(&log);

    // A first lake, without a limit, gives the files' sizes: the limit is set between the
    // smallest and the largest, so some hours commit and a later one fails.
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    let out = run_ingest(&reference, &[&log], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sizes = file_sizes(&reference);
    assert!(sizes.len() > 10, "{sizes:?}");
    let limit = sizes[sizes.len() / 2];
    assert!(
        sizes[0] < limit && limit < sizes[sizes.len() - 1],
        "{sizes:?}"
    );

    let lake = dir.path().join("lake");
    let out = with_file_limit(ingest_command(&lake, &[&log], &[]), limit);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("accesslake: error: writing ")
            && last.contains("_accesslake/staging/")
            && last.contains("(os error 27)"),
        "the error names the file and the kernel's refusal: {err}"
    );

    // What was published is whole: every file reads, no row twice, and only a prefix of the
    // log's lines (the hours committed before the refusal).
    let first = lake_provenance(&lake);
    assert!(
        !first.is_empty() && first.len() < lines,
        "{} rows of {lines}",
        first.len()
    );
    let mut seen = first.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), first.len(), "no row twice");
    let offsets: Vec<i64> = seen.iter().map(|(_, o)| *o).collect();
    assert_eq!(
        offsets,
        (1..=offsets.len() as i64).collect::<Vec<_>>(),
        "the committed rows are the log's first lines"
    );

    // The disk takes writes again: the rerun adds exactly the missing lines.
    let out = run_ingest(&lake, &[&log], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{} already in the lake", first.len())),
        "{stdout}"
    );
    let mut all = lake_provenance(&lake);
    assert_eq!(all.len(), lines, "every line once");
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), lines, "no row twice");
    assert_eq!(
        file_sizes(&lake),
        sizes,
        "the same files as a run that was never refused"
    );
}

#[test]
fn an_error_on_a_later_file_comes_after_the_summary_of_the_files_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let good = shared_log("zanbil_first1000.log");
    // A gzip stream cut short: refused whole, after the first file is committed.
    let cut = dir.path().join("cut.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &std::fs::read(&good).unwrap()[..20_000]).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let out = run_ingest(&lake, &[&good, &cut], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines = count_lines(&good);
    assert!(
        stdout.starts_with(&format!(
            "ingested 1 file(s): {lines} lines, {lines} rows written"
        )) && stdout.contains("then an error stopped the run (below)"),
        "{stdout}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("cut.log.gz"),
        "{stderr}"
    );
    assert_eq!(lake_provenance(&lake).len(), lines);
}
