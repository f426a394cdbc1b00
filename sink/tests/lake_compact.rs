//! `accesslake compact`: on a lake of 60-second windows, each source partition's files of an hour
//! become one file (or several of at most `--max-rows`), named after the first offsets of their
//! first and last inputs, each with its summary; every row reads back the same (`query` of all of
//! them, in order), `report` answers the same, `check` finds nothing, and a second run changes
//! nothing. A merge stopped after each of its steps is finished by the next `compact` or
//! `expire`, `query` reads every row once meanwhile, and `check` and `query` say it was
//! interrupted; `compact` beside a writer appending to the same hour loses and doubles no row;
//! one `compact` or `expire` at a time.

mod common;
mod query_support;

use accesslake::compact::{compact_until, CompactError, MergeStep};
use accesslake::lake_files::{lake_files, summary_files, DataName};
use query_support::{
    accesslake, copy, generated_log, query_csv, report_text_of, snapshot_but_lock,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A lake of 60-second windows from the generated log and the Elastic log (two partitions), in
/// a directory of its own.
fn minute_lake() -> &'static (tempfile::TempDir, PathBuf) {
    static LAKE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let generated = dir.path().join("generated.log");
        std::fs::write(&generated, generated_log()).unwrap();
        let elastic = common::shared_log("elastic_apache_logs.log");
        let lake = dir.path().join("lake");
        let out = ingest_minutes(&lake, &[&generated, &elastic]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (dir, lake)
    })
}

/// `ingest` of `files` into `lake` as [`minute_lake`] makes it.
fn ingest_minutes(lake: &Path, files: &[&Path]) -> std::process::Output {
    let city = common::geoip("GeoLite2-City-Test.mmdb");
    let extra = [
        "--window-secs",
        "60",
        "--geoip-city",
        city.to_str().unwrap(),
    ];
    common::run_ingest(lake, files, &extra)
}

/// A copy of [`minute_lake`] to change.
fn copied() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy(&minute_lake().1, &lake);
    (dir, lake)
}

fn run(args: &[&str]) -> std::process::Output {
    accesslake(args)
}

fn stdout_ok(args: &[&str]) -> String {
    common::stdout_of(run(args))
}

/// Every row of the lake, every column, in provenance order, as CSV.
fn rows(lake: &Path) -> String {
    query_csv(
        lake,
        "SELECT * FROM logs ORDER BY src_partition, src_offset",
    )
}

/// The text report without its first line (which counts files).
fn report(lake: &Path) -> String {
    let text = report_text_of(lake, &[]);
    text.split_once('\n').unwrap().1.to_string()
}

/// A lake's data files, lake-relative, grouped by hour directory and partition.
fn by_hour_and_partition(lake: &Path) -> BTreeMap<(PathBuf, String), Vec<PathBuf>> {
    let mut out: BTreeMap<(PathBuf, String), Vec<PathBuf>> = BTreeMap::new();
    for f in lake_files(lake).unwrap() {
        let rel = f.path.strip_prefix(lake).unwrap().to_path_buf();
        let name = DataName::parse(&rel).unwrap();
        let partition = format!("{}-p{}", name.source, name.partition);
        out.entry((rel.parent().unwrap().to_path_buf(), partition))
            .or_default()
            .push(rel);
    }
    out
}

/// The files of every partition's last commit, lake-relative.
fn last_commits(lake: &Path) -> BTreeSet<PathBuf> {
    last_commits_by_state(lake)
        .into_values()
        .flatten()
        .collect()
}

/// [`last_commits`] of each partition, by its state file's path.
fn last_commits_by_state(lake: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut out = BTreeMap::new();
    for source in std::fs::read_dir(lake.join("_accesslake/state")).unwrap() {
        for state in std::fs::read_dir(source.unwrap().path()).unwrap() {
            let p = state.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
                let files = v["pending"].as_array().unwrap().iter();
                let files = files.map(|f| PathBuf::from(f["target"].as_str().unwrap()));
                out.insert(p, files.collect());
            }
        }
    }
    out
}

/// A data file's key-value metadata `accesslake.*`.
fn file_meta(path: &Path) -> BTreeMap<String, String> {
    let f = std::fs::File::open(path).unwrap();
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&f)
        .unwrap();
    let kv = meta.file_metadata().key_value_metadata().unwrap();
    kv.iter()
        .filter(|k| k.key.starts_with("accesslake."))
        .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
        .collect()
}

/// The lake's data files, checked to be exactly the files with a summary.
fn files_with_summaries(lake: &Path) -> BTreeSet<PathBuf> {
    let data: BTreeSet<PathBuf> = lake_files(lake)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    let summaries: BTreeSet<PathBuf> = summary_files(lake)
        .unwrap()
        .into_iter()
        .map(|f| {
            let rel = f
                .path
                .strip_prefix(lake.join("_accesslake/summary"))
                .unwrap();
            lake.join(rel.with_extension("parquet"))
        })
        .collect();
    assert_eq!(
        data, summaries,
        "every data file has its summary, and only they"
    );
    data
}

#[test]
fn compact_merges_each_partitions_hours_and_changes_no_row() {
    let (_dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let (rows_before, report_before) = (rows(&lake), report(&lake));
    let groups_before = by_hour_and_partition(&lake);
    let files_before: usize = groups_before.values().map(Vec::len).sum();
    assert!(
        files_before > 200,
        "{files_before} files: 60-s windows make many"
    );
    // A writer (this test) holds the partition whose last commit shares its hour with other
    // files: those files, which its recovery looks for, are left alone. (The other partition's
    // last commit is alone in its hour.)
    let with_company = |files: &BTreeSet<PathBuf>| {
        groups_before
            .values()
            .filter(|group| group.len() > 1)
            .flatten()
            .filter(|f| files.contains(*f))
            .count()
    };
    let (held_state, last) = last_commits_by_state(&lake)
        .into_iter()
        .find(|(_, files)| with_company(files) > 0)
        .expect("a last commit with company");
    let held_back = with_company(&last);
    let held = accesslake::lock::PartitionLock::acquire(
        &held_state.with_extension("lock"),
        Duration::ZERO,
    )
    .unwrap();

    let unchanged = snapshot_but_lock(&lake);
    let dry = stdout_ok(&["compact", "--lake", l, "--dry-run"]);
    assert!(dry.starts_with("would compact "), "{dry}");
    assert_eq!(
        snapshot_but_lock(&lake),
        unchanged,
        "a dry run changes nothing"
    );

    let said = stdout_ok(&["compact", "--lake", l]);
    assert!(
        said.contains(&format!(
            "files left alone: {held_back} of their partition's last commit"
        )),
        "{said}"
    );
    let groups_after = by_hour_and_partition(&lake);
    assert_eq!(
        groups_after.keys().collect::<Vec<_>>(),
        groups_before.keys().collect::<Vec<_>>()
    );
    let (mut inputs, mut outputs) = (0, 0);
    for (key, before) in &groups_before {
        let after = &groups_after[key];
        let kept: Vec<&PathBuf> = before.iter().filter(|f| last.contains(*f)).collect();
        let others: Vec<&PathBuf> = before.iter().filter(|f| !last.contains(*f)).collect();
        // Each hour's files of a partition, its last commit's aside, became one file named
        // after the first offsets of the first and last of them, or stayed the one file they
        // were.
        let firsts: Vec<i64> = others
            .iter()
            .map(|f| DataName::parse(f).unwrap().first)
            .collect();
        let first = match others.len() {
            0 => None,
            1 => Some(others[0].to_path_buf()),
            _ => {
                let name = DataName::parse(others[0]).unwrap();
                let (lo, hi) = (firsts.iter().min().unwrap(), firsts.iter().max().unwrap());
                let dir = others[0].parent().unwrap().to_str().unwrap();
                let merged = DataName::merged(dir, &name.source, name.partition, *lo, *hi);
                Some(PathBuf::from(merged))
            }
        };
        let mut want: Vec<PathBuf> = kept.into_iter().cloned().chain(first).collect();
        want.sort();
        assert_eq!(after, &want, "{key:?}");
        if others.len() > 1 {
            inputs += others.len();
            outputs += 1;
        }
    }
    assert!(outputs > 0);
    assert!(
        said.contains(&format!("{inputs} data file(s) into {outputs} (")),
        "{said}"
    );
    // Every data file has its summary, and each merged file's metadata spans its rows.
    let data = files_with_summaries(&lake);
    for f in &data {
        let provenance = common::lake_provenance_of(f);
        let meta = file_meta(f);
        let min = provenance.iter().map(|p| p.1).min().unwrap();
        let max = provenance.iter().map(|p| p.1).max().unwrap();
        assert_eq!(meta["accesslake.first_offset"], min.to_string(), "{f:?}");
        assert_eq!(meta["accesslake.last_offset"], max.to_string(), "{f:?}");
        assert_eq!(DataName::parse(f).unwrap().first, min, "{f:?}");
    }

    assert_eq!(rows(&lake), rows_before, "every row reads back the same");
    assert_eq!(report(&lake), report_before);
    stdout_ok(&["check", "--lake", l]);
    assert!(
        std::fs::read_dir(lake.join("_accesslake/compact"))
            .unwrap()
            .next()
            .is_none(),
        "nothing left staged"
    );

    // Once its writer lets go, the other partition's last commit is merged too: one file per
    // hour and partition is left, and the rows are the same.
    drop(held);
    // A dry run counts them as merged, and writes nothing: not the state, not the lock file.
    let unchanged = snapshot_but_lock(&lake);
    let dry = stdout_ok(&["compact", "--lake", l, "--dry-run"]);
    assert!(!dry.contains("files left alone"), "{dry}");
    assert_eq!(
        snapshot_but_lock(&lake),
        unchanged,
        "a dry run changes nothing"
    );
    let said = stdout_ok(&["compact", "--lake", l]);
    assert!(!said.contains("files left alone"), "{said}");
    let counts = |line: &str| {
        let (_, rest) = line.split_once(": ").unwrap();
        rest.split_once(" (").unwrap().0.to_string()
    };
    assert_eq!(
        counts(&dry),
        counts(&said),
        "the dry run counted what was merged"
    );
    for (key, files) in by_hour_and_partition(&lake) {
        assert_eq!(files.len(), 1, "{key:?}: {files:?}");
    }
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&held_state).unwrap()).unwrap();
    assert_eq!(
        state["pending"],
        serde_json::json!([]),
        "its state forgot its published commit"
    );
    assert_eq!(rows(&lake), rows_before);
    stdout_ok(&["check", "--lake", l]);

    let merged = snapshot_but_lock(&lake);
    let again = stdout_ok(&["compact", "--lake", l]);
    assert!(again.contains(" 0 data file(s) into 0 ("), "{again}");
    assert_eq!(
        snapshot_but_lock(&lake),
        merged,
        "a second run changes nothing"
    );
}

#[test]
fn a_last_commit_not_all_published_is_left_to_its_writers_recovery() {
    let (dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let before = rows(&lake);
    // A writer killed after its commit point, before it renamed its data file into place: the
    // file is still staged, and no writer holds the partition.
    let (state_path, state) = last_commits_by_state(&lake)
        .into_iter()
        .find(|(_, files)| files.iter().any(|f| !f.starts_with("year=2015")))
        .expect("the generated log's partition");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    let first = &v["pending"][0];
    let staging = lake
        .join("_accesslake/staging")
        .join(state_path.parent().unwrap().file_name().unwrap())
        .join(state_path.file_stem().unwrap());
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::rename(
        lake.join(first["target"].as_str().unwrap()),
        staging.join(first["staged"].as_str().unwrap()),
    )
    .unwrap();
    let said = stdout_ok(&["compact", "--lake", l]);
    assert!(said.contains("of their partition's last commit"), "{said}");
    let now: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).unwrap()).unwrap();
    assert_eq!(
        now["pending"], v["pending"],
        "the commit is left to recovery"
    );
    for f in &state {
        if f != Path::new(first["target"].as_str().unwrap()) {
            assert!(lake.join(f).exists(), "{f:?} left in place");
        }
    }
    // The file's next `ingest` finishes the commit: every row is there, once.
    let log = dir.path().join("generated.log");
    std::fs::write(&log, generated_log()).unwrap();
    let out = ingest_minutes(&lake, &[&log]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("finished publishing the last commit"), "{err}");
    assert!(!err.contains("missing from the lake"), "{err}");
    assert_eq!(rows(&lake), before);
    stdout_ok(&["check", "--lake", l]);
}

#[test]
fn max_rows_bounds_the_merged_files() {
    let (_dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let before = rows(&lake);
    let largest_input = lake_files(&lake)
        .unwrap()
        .iter()
        .map(|f| common::lake_provenance_of(&f.path).len())
        .max()
        .unwrap();
    // Under the generated log's hours (about 210 rows each), over every input file.
    let bound = 150;
    assert!(largest_input <= bound, "{largest_input}");
    let files_before = lake_files(&lake).unwrap().len();
    stdout_ok(&["compact", "--lake", l, "--max-rows", &bound.to_string()]);
    let sizes: Vec<usize> = lake_files(&lake)
        .unwrap()
        .iter()
        .map(|f| common::lake_provenance_of(&f.path).len())
        .collect();
    assert!(sizes.iter().all(|&n| n <= bound), "{sizes:?}");
    assert!(
        sizes.len() * 2 < files_before,
        "{} of {files_before}",
        sizes.len()
    );
    let last = last_commits(&lake);
    let split = by_hour_and_partition(&lake)
        .values()
        .filter(|files| files.iter().filter(|f| !last.contains(*f)).count() > 1)
        .count();
    assert!(split > 0, "no hour's files were over the bound together");
    assert_eq!(rows(&lake), before);
    stdout_ok(&["check", "--lake", l]);
    let zero = run(&["compact", "--lake", l, "--max-rows", "0"]);
    assert!(!zero.status.success());
}

#[test]
fn a_merge_stopped_after_any_step_is_finished_by_the_next_compact_or_expire() {
    let before = rows(&minute_lake().1);
    let now = chrono::Utc::now().timestamp_micros();
    for (step, finisher) in [
        (MergeStep::Staged, "compact"),
        (MergeStep::Journaled, "compact"),
        (MergeStep::SummariesRemoved, "compact"),
        (MergeStep::DataMoved, "compact"),
        (MergeStep::DataMoved, "expire"),
        (MergeStep::InputsRemoved, "compact"),
        (MergeStep::SummaryMoved, "expire"),
    ] {
        let (_dir, lake) = copied();
        let l = lake.to_str().unwrap();
        let stopped = compact_until(&lake, now, 250_000, false, Duration::ZERO, Some(step));
        assert!(
            matches!(stopped, Err(CompactError::Stopped(s)) if s == step),
            "{stopped:?}"
        );
        let journal = lake.join("_accesslake/compact/journal.json");
        let check = run(&["check", "--lake", l]);
        let findings = String::from_utf8_lossy(&check.stdout);
        if step == MergeStep::Staged {
            // Before the commit point: the lake is as it was; the staged files are orphans.
            assert!(!journal.exists());
            assert!(check.status.success(), "{findings}");
            assert_eq!(rows(&lake), before);
        } else {
            assert!(journal.exists());
            assert!(!check.status.success());
            assert!(findings.contains("an interrupted merge"), "{findings}");
            // The merged file's name says which files it holds: each row is read once, at
            // every step.
            assert_eq!(rows(&lake), before, "{step:?}");
            let q = run(&["query", "--lake", l, "SELECT count(*) FROM logs"]);
            assert!(q.status.success());
            let warned = String::from_utf8_lossy(&q.stderr);
            assert!(warned.contains("was interrupted"), "{step:?}: {warned}");
            let dry = run(&["compact", "--lake", l, "--dry-run"]);
            assert!(dry.status.success());
            let warned = String::from_utf8_lossy(&dry.stderr);
            assert!(
                warned.contains("a merge was interrupted"),
                "{step:?}: {warned}"
            );
            assert!(journal.exists(), "a dry run finishes nothing");
        }
        let out = match finisher {
            "compact" => run(&["compact", "--lake", l]),
            _ => run(&["expire", "--lake", l, "--before", "2000-01-01"]),
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if step != MergeStep::Staged {
            assert!(!journal.exists(), "{step:?} {finisher}");
        }
        assert!(
            std::fs::read_dir(lake.join("_accesslake/compact"))
                .unwrap()
                .next()
                .is_none(),
            "{step:?} {finisher}: nothing left staged"
        );
        assert_eq!(rows(&lake), before, "{step:?} {finisher}");
        files_with_summaries(&lake);
        stdout_ok(&["check", "--lake", l]);
    }
}

#[test]
fn inputs_put_back_beside_their_merged_file_are_skipped_and_never_merged_again() {
    let (dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let before = rows(&lake);
    let (key, group) = by_hour_and_partition(&lake)
        .into_iter()
        .find(|(_, files)| files.len() > 2)
        .expect("an hour of several files");
    let aside = dir.path().join("aside");
    std::fs::create_dir(&aside).unwrap();
    for f in &group {
        std::fs::copy(lake.join(f), aside.join(f.file_name().unwrap())).unwrap();
    }
    stdout_ok(&["compact", "--lake", l]);
    let merged = &by_hour_and_partition(&lake)[&key];
    assert_eq!(merged.len(), 1, "{merged:?}");
    // A restore from backup puts the inputs back beside the file they were merged into.
    for f in &group {
        std::fs::copy(aside.join(f.file_name().unwrap()), lake.join(f)).unwrap();
    }
    let unchanged = snapshot_but_lock(&lake);
    assert_eq!(rows(&lake), before, "this program's readers skip them");
    let check = run(&["check", "--lake", l]);
    assert!(!check.status.success());
    let findings = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        findings.matches("merged already").count(),
        group.len(),
        "{findings}"
    );
    let said = stdout_ok(&["compact", "--lake", l]);
    assert!(
        said.contains(&format!("files left alone: {} merged already", group.len())),
        "{said}"
    );
    assert_eq!(
        snapshot_but_lock(&lake),
        unchanged,
        "nothing merged again or deleted"
    );
    // Deleted as the finding says, the lake is whole.
    for f in &group {
        std::fs::remove_file(lake.join(f)).unwrap();
    }
    stdout_ok(&["check", "--lake", l]);
    assert_eq!(rows(&lake), before);
}

#[test]
fn compact_beside_a_writer_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    std::fs::create_dir(&lake).unwrap();
    let l = lake.to_str().unwrap();
    let log = dir.path().join("live.log");
    let done = std::sync::atomic::AtomicBool::new(false);
    let (mut lines, mut merges) = (0usize, 0usize);
    std::thread::scope(|s| {
        let compactor = s.spawn(|| {
            let mut merged = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let out = stdout_ok(&["compact", "--lake", l, "--before", "2020-01-02"]);
                merged += usize::from(!out.contains(" 0 data file(s) into 0 ("));
            }
            merged
        });
        let mut text = String::new();
        for round in 0..60 {
            for i in 0..10 {
                let n = round * 10 + i;
                text.push_str(&format!(
                    "10.0.{}.{} - - [01/Jan/2020:10:{:02}:{:02} +0000] \"GET /r{n} HTTP/1.1\" 200 \
                     {n} \"-\" \"curl/8\"\n",
                    n / 250,
                    n % 250,
                    round % 60,
                    i
                ));
                lines += 1;
            }
            std::fs::write(&log, &text).unwrap();
            let out = common::run_ingest(&lake, &[&log], &["--window-secs", "60"]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{err}");
            // Its recovery found every file of its last commit: none was merged away.
            assert!(!err.contains("missing from the lake"), "{err}");
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        merges = compactor.join().unwrap();
    });
    assert!(
        merges > 0,
        "the compactor merged nothing while the writer ran"
    );
    stdout_ok(&["compact", "--lake", l, "--before", "2020-01-02"]);
    let provenance = common::lake_provenance(&lake);
    let distinct: BTreeSet<(i32, i64)> = provenance.iter().copied().collect();
    assert_eq!(provenance.len(), lines, "no row lost or doubled");
    assert_eq!(distinct.len(), lines);
    stdout_ok(&["check", "--lake", l]);
}

#[test]
fn one_compact_or_expire_at_a_time() {
    let (_dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let lock = lake.join("_accesslake/maintenance.lock");
    let held = accesslake::lock::PartitionLock::acquire(&lock, std::time::Duration::ZERO).unwrap();
    let unchanged = snapshot_but_lock(&lake);
    for args in [
        vec!["compact", "--lake", l],
        vec!["expire", "--lake", l, "--before", "2021-01-01"],
    ] {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("another `compact` or `expire` is working on this lake"),
            "{err}"
        );
    }
    assert_eq!(snapshot_but_lock(&lake), unchanged);
    // A bounded wait says how long it waited; one longer than the holder's work goes ahead.
    let out = run(&[
        "expire",
        "--lake",
        l,
        "--before",
        "2021-01-01",
        "--lock-wait-secs",
        "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("working on this lake") && err.contains("waited 1 s"),
        "{err}"
    );
    assert_eq!(snapshot_but_lock(&lake), unchanged);
    let started = Instant::now();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        drop(held);
    });
    let waited = run(&["compact", "--lake", l, "--lock-wait-secs", "60"]);
    release.join().unwrap();
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "it waited for the holder"
    );
    assert!(String::from_utf8_lossy(&waited.stdout).starts_with("compacted"));
    let unchanged = snapshot_but_lock(&lake);
    let future = run(&["compact", "--lake", l, "--before", "2999-01-01"]);
    assert!(!future.status.success());
    assert!(String::from_utf8_lossy(&future.stderr).contains("is in the future"));
    let missing = run(&["compact", "--lake", "/nonexistent/lake"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no lake at"));
    assert!(!Path::new("/nonexistent/lake").exists());
    assert_eq!(snapshot_but_lock(&lake), unchanged);
}

#[test]
fn a_file_that_cannot_be_read_leaves_its_files_alone_and_the_rest_is_merged() {
    let (_dir, lake) = copied();
    let l = lake.to_str().unwrap();
    let last = last_commits(&lake);
    let groups = by_hour_and_partition(&lake);
    let (key, files) = groups
        .iter()
        .find(|(_, f)| f.iter().filter(|f| !last.contains(*f)).count() >= 3)
        .expect("an hour of three files or more");
    let mut mergeable: Vec<&PathBuf> = files.iter().filter(|f| !last.contains(*f)).collect();
    mergeable.sort_by_key(|f| {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        stem.rsplit_once("-o").unwrap().1.parse::<i64>().unwrap()
    });
    // Its pages, not its footer: the footer reads, the rows do not.
    let damaged = lake.join(mergeable[1]);
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[4..204].fill(0xff);
    std::fs::write(&damaged, &bytes).unwrap();
    let kept = snapshot_but_lock(&lake.join(key.0.as_path()));

    let out = run(&["compact", "--lake", l]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 that could not be read"), "{said}");
    let warned = String::from_utf8_lossy(&out.stderr);
    assert!(warned.contains("cannot be read in full"), "{warned}");
    assert_eq!(
        snapshot_but_lock(&lake.join(key.0.as_path())),
        kept,
        "the damaged file's hour is as it was"
    );
    let after = by_hour_and_partition(&lake);
    for (k, files) in after.iter().filter(|(k, _)| *k != key) {
        let left = files.iter().filter(|f| !last.contains(*f)).count();
        assert!(left <= 1, "{k:?}: every other hour was merged, {files:?}");
    }
}
