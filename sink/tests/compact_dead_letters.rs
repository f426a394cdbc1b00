//! `accesslake compact` on dead-letter files: two logs with bad lines throughout, ingested in
//! hour windows (one data file per hour, one dead-letter file per commit), so that only dead
//! letters have anything to merge. Each partition's dead-letter files become one, named after
//! the first offsets of the first and last of them, with the newest modification time of them;
//! the dead letters and `report`'s section on them are the same, `check` finds nothing and a
//! second run changes nothing. A merge stopped after each of its steps is finished by the next
//! `compact`, and every dead letter is read once meanwhile; an input put back beside its merged
//! file is skipped, named by `check`, never merged again and expired with its merged file; `--before` leaves newer files alone;
//! files of two UTC days (by modification time) become a file a day.

mod common;
mod query_support;

use accesslake::compact::{compact_until, CompactError, MergeStep};
use accesslake::lake_files::{dead_letter_files, DataName};
use query_support::{accesslake, copy, report_text_of, snapshot_but_lock};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// A log of `hours` hours from `start` (an hour of the day), a line every 90 s, every 7th line
/// one that does not parse.
fn log(host: u8, hours: u32) -> String {
    let mut out = String::new();
    for i in 0..hours * 40 {
        let secs = i * 90;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if i % 7 == 3 {
            out.push_str(&format!("not a log line {host}/{i}\n"));
        } else {
            out.push_str(&format!(
                "10.1.{host}.{} - - [02/Mar/2021:{h:02}:{m:02}:{s:02} +0000] \"GET /d{i} HTTP/1.1\" \
                 200 {i} \"-\" \"curl/8\"\n",
                i % 250
            ));
        }
    }
    out
}

/// A lake of two such logs (two partitions), in a directory of its own.
fn lake() -> &'static (tempfile::TempDir, PathBuf) {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        std::fs::write(&a, log(1, 6)).unwrap();
        std::fs::write(&b, log(2, 4)).unwrap();
        let out = common::run_ingest(&lake, &[&a, &b], &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Merges never span two UTC days of modification times: the files' times are put within
        // today, a millisecond apart in offset order, so that a run at midnight merges as any.
        let now = SystemTime::now();
        let since_midnight = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % DAY;
        let start = now - Duration::from_secs(since_midnight.min(1800));
        for files in files_by_partition(&lake).values() {
            for (i, f) in files.iter().enumerate() {
                set_modified(f, start + Duration::from_millis(i as u64));
            }
        }
        (dir, lake)
    })
}

fn copied() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let lake_copy = dir.path().join("lake");
    copy(&lake().1, &lake_copy);
    (dir, lake_copy)
}

fn stdout_ok(args: &[&str]) -> String {
    common::stdout_of(accesslake(args))
}

/// The dead letters a reader of this program reads (each file it lists, every line), sorted.
fn read_dead_letters(lake: &Path) -> Vec<String> {
    let mut lines: Vec<String> = dead_letter_files(lake)
        .unwrap()
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

/// `report`'s section on dead letters, without the line that counts its files.
fn rejected_section(lake: &Path) -> String {
    let text = report_text_of(lake, &[]);
    let section = text.split("== Rejected lines").nth(1).unwrap().to_string();
    section
        .lines()
        .filter(|l| !l.contains("file(s)"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every dead-letter file under the lake (committed or not skipped), by partition directory.
fn files_by_partition(lake: &Path) -> BTreeMap<i32, Vec<PathBuf>> {
    let mut out: BTreeMap<i32, Vec<PathBuf>> = BTreeMap::new();
    let dir = lake.join("_accesslake/rejected/ingest");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if let Some(name) = DataName::parse_dead_letters(&p) {
            out.entry(name.partition).or_default().push(p);
        }
    }
    for files in out.values_mut() {
        files.sort();
    }
    out
}

fn modified(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

fn set_modified(p: &Path, t: SystemTime) {
    let file = std::fs::File::options().write(true).open(p).unwrap();
    file.set_modified(t).unwrap();
}

const DAY: u64 = 86_400;

#[test]
fn dead_letters_of_two_days_become_a_file_a_day() {
    let (_dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let letters = read_dead_letters(&lake);
    let before = files_by_partition(&lake);
    let (&partition, files) = before.iter().next().unwrap();
    assert!(files.len() > 3, "{files:?}");
    // The first two of the partition's files (by first offset) a day older: yesterday's.
    let mut sorted = files.clone();
    sorted.sort_by_key(|f| DataName::parse_dead_letters(f).unwrap().first);
    for f in &sorted[..2] {
        set_modified(f, modified(f) - Duration::from_secs(DAY));
    }
    let newest = |fs: &[PathBuf]| fs.iter().map(|f| modified(f)).max().unwrap();
    let want = [newest(&sorted[..2]), newest(&sorted[2..])];
    let now = chrono::Utc::now().to_rfc3339();
    stdout_ok(&["compact", "--lake", l, "--before", &now]);
    let after = files_by_partition(&lake);
    assert_eq!(after[&partition].len(), 2, "{:?}", after[&partition]);
    let mut times: Vec<SystemTime> = after[&partition].iter().map(|f| modified(f)).collect();
    times.sort();
    assert_eq!(times, want);
    assert!(after.values().filter(|f| f.len() == 1).count() == after.len() - 1);
    assert_eq!(read_dead_letters(&lake), letters);
    stdout_ok(&["check", "--lake", l]);
}

#[test]
fn each_partitions_dead_letter_files_become_one_with_the_same_dead_letters() {
    let (_dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let (letters, section) = (read_dead_letters(&lake), rejected_section(&lake));
    let bad = |hours: usize| (0..hours * 40).filter(|i| i % 7 == 3).count();
    assert_eq!(letters.len(), bad(6) + bad(4));
    let before = files_by_partition(&lake);
    assert_eq!(before.len(), 2);
    assert!(before.values().all(|f| f.len() > 2), "{before:?}");
    let newest: BTreeMap<i32, SystemTime> = before
        .iter()
        .map(|(p, f)| (*p, f.iter().map(|f| modified(f)).max().unwrap()))
        .collect();
    let inputs: usize = before.values().map(Vec::len).sum();

    // Files modified after `--before` are left alone.
    let dry = stdout_ok(&[
        "compact",
        "--lake",
        l,
        "--dry-run",
        "--before",
        "2000-01-01",
    ]);
    assert!(!dry.contains("dead-letter"), "{dry}");
    let now = chrono::Utc::now().to_rfc3339();
    let dry = stdout_ok(&["compact", "--lake", l, "--dry-run", "--before", &now]);
    let want = format!("; {inputs} dead-letter file(s) into 2 (");
    assert!(dry.contains(&want), "{dry}");

    // An hour ago by default: the files are newer. `--before` now merges them.
    let said = stdout_ok(&["compact", "--lake", l]);
    assert!(!said.contains("dead-letter"), "{said}");
    let said = stdout_ok(&["compact", "--lake", l, "--before", &now]);
    assert!(said.contains(" 0 data file(s) into 0 ("), "{said}");
    assert!(said.contains(&want), "{said}");
    let after = files_by_partition(&lake);
    for (partition, files) in &after {
        assert_eq!(files.len(), 1, "{files:?}");
        let name = DataName::parse_dead_letters(&files[0]).unwrap();
        let firsts: Vec<i64> = before[partition]
            .iter()
            .map(|f| DataName::parse_dead_letters(f).unwrap().first)
            .collect();
        let span = (*firsts.iter().min().unwrap(), *firsts.iter().max().unwrap());
        assert_eq!(name.span(), span);
        assert_eq!(modified(&files[0]), newest[partition]);
    }
    assert_eq!(read_dead_letters(&lake), letters);
    assert_eq!(common::dead_letters(&lake).len(), letters.len());
    assert_eq!(rejected_section(&lake), section);
    stdout_ok(&["check", "--lake", l]);
    assert!(
        std::fs::read_dir(lake.join("_accesslake/compact"))
            .unwrap()
            .next()
            .is_none(),
        "nothing left staged"
    );
    let merged = snapshot_but_lock(&lake);
    let again = stdout_ok(&["compact", "--lake", l, "--before", &now]);
    assert!(!again.contains("dead-letter"), "{again}");
    assert_eq!(
        snapshot_but_lock(&lake),
        merged,
        "a second run changes nothing"
    );
}

#[test]
fn a_dead_letter_merge_stopped_after_any_step_reads_each_once_and_is_finished() {
    let letters = read_dead_letters(&lake().1);
    let section = rejected_section(&lake().1);
    for step in [
        MergeStep::Staged,
        MergeStep::Journaled,
        MergeStep::DataMoved,
        MergeStep::InputsRemoved,
    ] {
        let (_dir, lake) = copied();
        let l = lake.to_str().unwrap();
        // After the copy, which gives the files new modification times.
        let now = chrono::Utc::now().timestamp_micros();
        let stopped = compact_until(&lake, now, 250_000, false, Duration::ZERO, Some(step));
        assert!(
            matches!(stopped, Err(CompactError::Stopped(s)) if s == step),
            "{stopped:?}"
        );
        assert_eq!(read_dead_letters(&lake), letters, "{step:?}");
        assert_eq!(rejected_section(&lake), section, "{step:?}");
        let check = accesslake(&["check", "--lake", l]);
        let findings = String::from_utf8_lossy(&check.stdout);
        assert_eq!(
            check.status.success(),
            step == MergeStep::Staged,
            "{step:?}: {findings}"
        );
        let now = chrono::Utc::now().to_rfc3339();
        stdout_ok(&["compact", "--lake", l, "--before", &now]);
        assert!(files_by_partition(&lake).values().all(|f| f.len() == 1));
        assert_eq!(read_dead_letters(&lake), letters, "{step:?}");
        stdout_ok(&["check", "--lake", l]);
    }
}

#[test]
fn a_dead_letter_file_put_back_beside_its_merged_file_is_skipped_and_never_merged_again() {
    let (dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let letters = read_dead_letters(&lake);
    let (_, files) = files_by_partition(&lake).pop_first().unwrap();
    let aside = dir.path().join(files[1].file_name().unwrap());
    std::fs::copy(&files[1], &aside).unwrap();
    let now = chrono::Utc::now().to_rfc3339();
    stdout_ok(&["compact", "--lake", l, "--before", &now]);
    std::fs::copy(&aside, &files[1]).unwrap();
    assert_eq!(read_dead_letters(&lake), letters);
    let check = accesslake(&["check", "--lake", l]);
    assert!(!check.status.success());
    let findings = String::from_utf8_lossy(&check.stdout);
    assert!(
        findings.contains("merged already") && findings.contains("skip its dead letters"),
        "{findings}"
    );
    let unchanged = snapshot_but_lock(&lake);
    let said = stdout_ok(&["compact", "--lake", l, "--before", &now]);
    assert!(said.contains("1 merged already"), "{said}");
    assert_eq!(
        snapshot_but_lock(&lake),
        unchanged,
        "nothing merged again or deleted"
    );
    // Restored with its own time, it goes with its merged file: never read again once that has
    // gone.
    let merged = files_by_partition(&lake)
        .pop_first()
        .unwrap()
        .1
        .into_iter()
        .find(|f| DataName::parse_dead_letters(f).unwrap().through.is_some())
        .unwrap();
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    set_modified(&merged, hour_ago);
    set_modified(&files[1], hour_ago);
    let after: chrono::DateTime<chrono::Utc> = (hour_ago + Duration::from_secs(1)).into();
    stdout_ok(&["expire", "--lake", l, "--before", &after.to_rfc3339()]);
    assert!(!files[1].exists() && !merged.exists());
    let left = read_dead_letters(&lake);
    assert!(left.iter().all(|d| letters.contains(d)), "{left:?}");
    stdout_ok(&["check", "--lake", l]);
}
