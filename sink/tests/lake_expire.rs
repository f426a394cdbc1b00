//! `accesslake expire`: on a copy of the test lake, the hours wholly before the cutoff go (data
//! files, summaries, the directories they leave empty) and everything else stays byte for byte;
//! the lake then reads as the old one from the cutoff's hour on, `check` finds nothing, and
//! ingesting the same logs again brings nothing back. Dead letters go by commit time; a dry run,
//! a time in the future and a time that does not parse change nothing.

mod common;
mod query_support;

use accesslake::lake_files::{lake_files, summary_files, LakeFile};
use query_support::{accesslake, build_lake, copied_lake, query_csv, snapshot, TestLake};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn lake() -> &'static TestLake {
    static LAKE: OnceLock<TestLake> = OnceLock::new();
    LAKE.get_or_init(build_lake)
}

/// Inside the generated log's three hours (09, 10 and 11 UTC on 2020-03-01): hour 09 and every
/// earlier log's hours go, hour 10 (cut) and hour 11 stay.
const CUTOFF: &str = "2020-03-01T10:30:00Z";
/// The first hour kept, µs: 2020-03-01T10:00:00Z.
const KEPT_FROM: i64 = 1_583_056_800_000_000;

fn stdout_ok(args: &[&str]) -> String {
    let out = accesslake(args);
    assert!(
        out.status.success(),
        "accesslake {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `SELECT count(*), sum(bytes)` over a lake, with an optional condition, as CSV text.
fn count(lake: &Path, condition: &str) -> String {
    let sql = format!("SELECT count(*) AS n, sum(bytes) AS b FROM logs {condition}");
    query_csv(lake, &sql)
}

fn paths(files: &[LakeFile]) -> Vec<PathBuf> {
    files.iter().map(|f| f.path.clone()).collect()
}

/// Every directory under `dir` that holds nothing (`_accesslake`, whose staging directories are
/// empty between commits, left out).
fn empty_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.ends_with("_accesslake") {
            if std::fs::read_dir(&p).unwrap().next().is_none() {
                out.push(p.clone());
            }
            out.extend(empty_dirs(&p));
        }
    }
    out
}

#[test]
fn expire_deletes_the_hours_before_the_cutoff_and_nothing_else() {
    let (_tmp, copy) = copied_lake(lake());
    let l = copy.to_str().unwrap();
    let data = lake_files(&copy).unwrap();
    let summaries = summary_files(&copy).unwrap();
    let (gone, kept): (Vec<LakeFile>, Vec<LakeFile>) =
        data.into_iter().partition(|f| f.hour_start < KEPT_FROM);
    let (gone_summaries, kept_summaries): (Vec<LakeFile>, Vec<LakeFile>) = summaries
        .into_iter()
        .partition(|f| f.hour_start < KEPT_FROM);
    assert!(
        gone.len() > 10 && kept.len() >= 2,
        "{} gone, {} kept",
        gone.len(),
        kept.len()
    );
    assert_eq!(
        gone_summaries.len(),
        gone.len(),
        "every data file has a summary"
    );
    let rows: usize = gone
        .iter()
        .flat_map(|f| common::read_parquet(&f.path))
        .map(|b| b.num_rows())
        .sum();
    let hours = gone
        .iter()
        .map(|f| f.hour_start)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let bytes: u64 = gone
        .iter()
        .map(|f| std::fs::metadata(&f.path).unwrap().len())
        .sum();
    let said = format!(
        "{hours} hour(s) before {CUTOFF}: {} data file(s) ({rows} rows; {bytes} bytes), {} \
         summary file(s), 0 dead-letter file(s)",
        gone.len(),
        gone_summaries.len()
    );

    // A dry run counts the same and changes nothing.
    let before = snapshot(&copy);
    let dry = stdout_ok(&["expire", "--lake", l, "--before", CUTOFF, "--dry-run"]);
    assert!(dry.starts_with(&format!("would expire {said}")), "{dry}");
    assert!(dry.contains("nothing deleted (--dry-run)"), "{dry}");
    assert_eq!(snapshot(&copy), before);

    let out = stdout_ok(&["expire", "--lake", l, "--before", CUTOFF]);
    assert!(out.starts_with(&format!("expired {said}")), "{out}");
    assert_eq!(paths(&lake_files(&copy).unwrap()), paths(&kept));
    assert_eq!(
        paths(&summary_files(&copy).unwrap()),
        paths(&kept_summaries)
    );
    // What stays is untouched: the same bytes, not written again.
    let after = snapshot(&copy);
    for f in kept.iter().chain(&kept_summaries) {
        let entry =
            |s: &[(PathBuf, u64, std::time::SystemTime)]| s.iter().find(|e| e.0 == f.path).cloned();
        assert_eq!(entry(&after), entry(&before), "{}", f.path.display());
    }
    // No directory is left empty, in the lake or among the summaries; the removed ones were
    // counted.
    assert_eq!(empty_dirs(&copy), Vec::<PathBuf>::new());
    assert_eq!(
        empty_dirs(&copy.join("_accesslake/summary")),
        Vec::<PathBuf>::new()
    );
    let removed = before.iter().filter(|e| !e.0.exists()).count();
    let removed = removed - gone.len() - gone_summaries.len();
    assert!(removed > 0);
    assert!(
        out.contains(&format!("; {removed} empty directories removed")),
        "{out}"
    );

    // The lake reads as the old one from the first hour kept; `check` finds nothing wrong.
    let from = "WHERE time >= TIMESTAMPTZ '2020-03-01 10:00:00+00'";
    assert_eq!(count(&copy, ""), count(&lake().lake, from));
    stdout_ok(&["check", "--lake", l]);
    // The resume states remember what was committed: the same logs again add nothing.
    let mut args = vec!["ingest", "--lake", l, "--no-progress"];
    let logs: Vec<&str> = lake().logs.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(&logs);
    let again = accesslake(&args);
    let warned = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{warned}");
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(again.contains(", 0 rows written"), "{again}");
    // The expired last commits were forgotten by their states: nothing looks for them.
    assert!(!warned.contains("missing from the lake"), "{warned}");
    assert_eq!(count(&copy, ""), count(&lake().lake, from));
    // Again with the same cutoff: nothing left to delete.
    let twice = stdout_ok(&["expire", "--lake", l, "--before", CUTOFF]);
    assert!(twice.starts_with("expired 0 hour(s)"), "{twice}");
}

#[test]
fn dead_letters_go_by_the_time_they_were_committed() {
    let (tmp, copy) = copied_lake(lake());
    let l = copy.to_str().unwrap();
    // Two more files, each with a line that is not a log line: two dead-letter files.
    for name in ["old.log", "new.log"] {
        let log = tmp.path().join(name);
        let text = format!("not a log line ({name})\n");
        std::fs::write(&log, text).unwrap();
        let out = common::run_ingest(&copy, &[&log], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rejected = |text: &str| -> PathBuf {
        let dir = copy.join("_accesslake/rejected/ingest");
        let found = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::read_to_string(p).unwrap().contains(text));
        found.unwrap_or_else(|| panic!("no dead-letter file holds {text:?}"))
    };
    let (old, new) = (rejected("(old.log)"), rejected("(new.log)"));
    // Committed in 2001, as far as the file's time says.
    let in_2001 = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(978_307_200);
    let file = File::options().write(true).open(&old).unwrap();
    file.set_modified(in_2001).unwrap();
    drop(file);
    let data = lake_files(&copy).unwrap();
    // Something else beside the sources' directories is left alone.
    let stray = copy.join("_accesslake/rejected/NOTES");
    std::fs::write(&stray, "not ours").unwrap();
    File::options()
        .write(true)
        .open(&stray)
        .unwrap()
        .set_modified(in_2001)
        .unwrap();

    // 2002 is before every hour of the lake: only the old dead letters go.
    let out = stdout_ok(&["expire", "--lake", l, "--before", "2002-01-01"]);
    let want = concat!(
        "expired 0 hour(s) before 2002-01-01T00:00:00Z: 0 data file(s) (0 rows; 0 bytes), ",
        "0 summary file(s), 1 dead-letter file(s)"
    );
    assert!(out.starts_with(want), "{out}");
    assert!(!old.exists());
    assert!(new.exists());
    assert!(stray.exists());
    assert_eq!(paths(&lake_files(&copy).unwrap()), paths(&data));
}

/// Each state's `pending` targets, by state file.
fn pending_of(lake: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let dir = lake.join("_accesslake/state/ingest");
    let mut out: Vec<(PathBuf, Vec<String>)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let targets = v["pending"].as_array().unwrap().iter();
            let targets = targets.map(|f| f["target"].as_str().unwrap().to_string());
            (p, targets.collect())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_held_partition_keeps_its_last_commit_in_its_state() {
    // The Elastic log's last commit (2015) is expired; a writer (this test) holds its partition,
    // so its state is left as it is; the Zanbil log's (2019), with no writer, is forgotten.
    let (_tmp, copy) = copied_lake(lake());
    let l = copy.to_str().unwrap();
    let before = pending_of(&copy);
    let in_year = |year: &str| {
        before
            .iter()
            .find(|(_, t)| t.iter().any(|t| t.starts_with(&format!("year={year}/"))))
            .map(|(p, _)| p.clone())
            .expect("a last commit of that year")
    };
    let (held_state, free_state) = (in_year("2015"), in_year("2019"));
    let held = accesslake::lock::PartitionLock::acquire(
        &held_state.with_extension("lock"),
        std::time::Duration::ZERO,
    )
    .unwrap();
    stdout_ok(&["expire", "--lake", l, "--before", CUTOFF]);
    drop(held);
    let after = pending_of(&copy);
    let of = |states: &[(PathBuf, Vec<String>)], p: &Path| {
        states.iter().find(|(s, _)| s == p).unwrap().1.clone()
    };
    assert_eq!(of(&after, &held_state), of(&before, &held_state));
    assert!(!of(&before, &free_state).is_empty());
    assert!(of(&after, &free_state).is_empty());
}

#[test]
fn a_future_or_unreadable_cutoff_changes_nothing() {
    let (_tmp, copy) = copied_lake(lake());
    let l = copy.to_str().unwrap();
    let before = snapshot(&copy);
    for (cutoff, says) in [
        ("2999-01-01", "is in the future"),
        ("last tuesday", "invalid time"),
    ] {
        let out = accesslake(&["expire", "--lake", l, "--before", cutoff]);
        assert!(!out.status.success(), "{cutoff}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{cutoff}: {err}");
        assert_eq!(snapshot(&copy), before, "{cutoff}");
    }
    // A lake that is not there is named, not created.
    let missing = copy.with_file_name("no-such-lake");
    let out = accesslake(&[
        "expire",
        "--lake",
        missing.to_str().unwrap(),
        "--before",
        CUTOFF,
    ]);
    assert!(!out.status.success());
    assert!(!missing.exists());
}

/// `expire` running over and over while `ingest` commits late rows into the hour it keeps
/// deleting: it removes the hour's directories between their creation and the rename into them,
/// and the writer makes them again (`Lake::publish`). Before that, about one `ingest` in 30
/// failed here; the rows of each commit are deleted again as they come, and the lake ends whole.
#[test]
fn expire_beside_a_writer_never_makes_it_fail() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    let l = lake.to_str().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let failures = std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                stdout_ok(&["expire", "--lake", l, "--before", "2020-01-02"]);
            }
        });
        let mut failures = Vec::new();
        for i in 0..150 {
            let log = dir.path().join(format!("{i}.log"));
            let line = format!(
                "10.0.0.{} - - [01/Jan/2020:10:{:02}:00 +0000] \"GET /r{i} HTTP/1.1\" 200 {i} \"-\" \
                 \"curl/8\"\n",
                i % 250,
                i % 60
            );
            std::fs::write(&log, line).unwrap();
            let out = common::run_ingest(&lake, &[&log], &[]);
            if !out.status.success() {
                failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        failures
    });
    assert_eq!(failures, Vec::<String>::new());
    stdout_ok(&["expire", "--lake", l, "--before", "2020-01-02"]);
    stdout_ok(&["check", "--lake", l]);
    assert_eq!(lake_files(&lake).unwrap(), vec![]);
}
