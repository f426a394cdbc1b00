//! Which partition a file is, across runs: two different files whose ids collide are both
//! ingested whole, each in a partition of its own that it keeps (its gzip-compressed copy after
//! rotation too); a file that is no longer an append of what was committed (rewritten, cut short)
//! is stopped with an error that names it, and nothing of it is written.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Runs `ingest --no-progress --lake LAKE FILES...`.
fn run(lake: &Path, files: &[&Path]) -> std::process::Output {
    let mut args = vec!["ingest", "--no-progress", "--lake", lake.to_str().unwrap()];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    accesslake(&args)
}

/// `ingest` that must succeed: its summary.
fn ingest(lake: &Path, files: &[&Path]) -> String {
    stdout_of(run(lake, files))
}

/// `ingest` that must fail: its error line.
fn refused(lake: &Path, files: &[&Path]) -> String {
    let out = run(lake, files);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{err}");
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("accesslake: error: "), "{err}");
    last
}

/// A log line, numbered, from a family of lines (`tag`).
fn line(i: usize, tag: &str) -> String {
    format!(
        "10.1.{}.{} - - [01/Jan/2019:02:{:02}:{:02} +0000] \"GET /{tag}{i} HTTP/1.1\" 200 {i} \"-\" \"-\"\n",
        i / 250,
        i % 250,
        i / 60 % 60,
        i % 60
    )
}

fn lines(range: std::ops::Range<usize>, tag: &str) -> String {
    range.map(|i| line(i, tag)).collect()
}

fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

fn partitions(lake: &Path) -> BTreeSet<i32> {
    lake_provenance(lake).iter().map(|p| p.0).collect()
}

/// The lines of the lake (`(partition, line)`), sorted.
fn rows(lake: &Path) -> Vec<(i32, i64)> {
    let mut rows = lake_provenance(lake);
    rows.sort();
    rows
}

#[test]
fn two_files_whose_ids_collide_are_both_ingested_each_in_its_own_partition() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Their first lines have one id, 1972917932 (a 31-bit hash).
    let first_a = "10.0.110.213 - - [01/Jan/2019:00:52:53 +0000] \"GET /p28373 HTTP/1.1\" 200 1 \"-\" \"-\"\n";
    let first_b = "10.0.219.183 - - [01/Jan/2019:00:49:43 +0000] \"GET /p121783 HTTP/1.1\" 200 1 \"-\" \"-\"\n";
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, format!("{first_a}{}", lines(1..4, "a"))).unwrap();
    std::fs::write(&b, format!("{first_b}{}", lines(1..4, "b"))).unwrap();

    let summary = ingest(&lake, &[&a]);
    assert!(summary.contains(" 4 rows written"), "{summary}");
    let summary = ingest(&lake, &[&b]);
    assert!(summary.contains(" 4 rows written"), "{summary}");
    assert!(summary.contains(" 0 already in the lake"), "{summary}");
    let all = rows(&lake);
    assert_eq!(all.len(), 8);
    assert_eq!(
        partitions(&lake),
        BTreeSet::from([1_972_917_932, 1_972_917_933])
    );

    // Every file keeps its partition: runs in either order add nothing, and b's compressed copy
    // after rotation is b.
    let b_gz = dir.path().join("b.log.1.gz");
    std::fs::write(&b_gz, gzip(&std::fs::read(&b).unwrap())).unwrap();
    for files in [[&*b, &*a, &*b_gz], [&*b_gz, &*a, &*b]] {
        let summary = ingest(&lake, &files);
        assert!(summary.contains(" 0 rows written"), "{summary}");
        assert!(summary.contains(" 12 already in the lake"), "{summary}");
    }
    // Both grow: each gets its own new lines.
    std::fs::write(&a, format!("{first_a}{}", lines(1..6, "a"))).unwrap();
    std::fs::write(&b, format!("{first_b}{}", lines(1..5, "b"))).unwrap();
    let summary = ingest(&lake, &[&b, &a]);
    assert!(summary.contains(" 3 rows written"), "{summary}");
    assert_eq!(rows(&lake).len(), 11);

    // The same in one run, into a new lake, b first this time.
    let lake2 = dir.path().join("lake2");
    let summary = ingest(&lake2, &[&b, &a]);
    assert!(summary.contains(" 11 rows written"), "{summary}");
    assert_eq!(rows(&lake2).len(), 11);
    assert_eq!(partitions(&lake2).len(), 2);
}

/// A lake with a 100-line file ingested: (lake, file, the file's partition).
fn lake_with_100_lines(dir: &Path) -> (PathBuf, PathBuf, i32) {
    let lake = dir.join("lake");
    let log = dir.join("access.log");
    std::fs::write(&log, lines(0..100, "x")).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 100 rows written"), "{summary}");
    let parts = partitions(&lake);
    assert_eq!(parts.len(), 1);
    (lake, log, *parts.first().unwrap())
}

#[test]
fn a_file_rewritten_or_cut_short_is_stopped_and_nothing_of_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, log, p) = lake_with_100_lines(dir.path());
    let before = rows(&lake);
    let state = lake.join(format!("_accesslake/state/ingest/{p}.json"));
    let state_before = std::fs::read(&state).unwrap();
    for (what, text, says) in [
        // Its first 50 lines, then 30 others: fewer lines than committed.
        (
            "shorter",
            lines(0..50, "x") + &lines(50..80, "new"),
            "it has 80 lines, fewer than the 100 already committed".to_string(),
        ),
        // As many lines, or more, the last one committed changed.
        (
            "same length",
            lines(0..50, "x") + &lines(50..100, "new"),
            "line 100 differs from the line committed".into(),
        ),
        (
            "longer",
            lines(0..50, "x") + &lines(50..150, "new"),
            "line 100 differs from the line committed".into(),
        ),
        ("cut", lines(0..99, "x"), "it has 99 lines".into()),
    ] {
        std::fs::write(&log, &text).unwrap();
        let err = refused(&lake, &[&log]);
        let named = format!("accesslake: error: {}: not an append", log.display());
        assert!(err.starts_with(&named), "{what}: {err}");
        assert!(err.contains(&says), "{what}: {err}");
        assert!(err.contains("Rewritten files"), "{what}: {err}");
        assert_eq!(rows(&lake), before, "{what}: nothing written");
        assert_eq!(std::fs::read(&state).unwrap(), state_before, "{what}");
    }
    // It stops the command as any error on a file does: the files before it are ingested, those
    // after it are not.
    let (other, after) = (dir.path().join("other.log"), dir.path().join("after.log"));
    std::fs::write(&other, lines(0..5, "other")).unwrap();
    std::fs::write(&after, lines(0..5, "after")).unwrap();
    refused(&lake, &[&other, &log, &after]);
    assert_eq!(rows(&lake).len(), 105);
    assert_eq!(partitions(&lake).len(), 2);

    // Grown by appends only, or compressed after rotation, it is the same file still.
    std::fs::write(&log, lines(0..110, "x")).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 10 rows written"), "{summary}");
    let gz = dir.path().join("access.log.1.gz");
    std::fs::write(&gz, gzip(lines(0..110, "x").as_bytes())).unwrap();
    let summary = ingest(&lake, &[&gz, &log]);
    assert!(summary.contains(" 0 rows written"), "{summary}");
    // The last line is checked from where the last run ended (line 110 now), in the .gz too.
    std::fs::write(&gz, gzip((lines(0..109, "x") + &line(109, "y")).as_bytes())).unwrap();
    let err = refused(&lake, &[&gz]);
    assert!(
        err.contains("line 110 differs from the line committed"),
        "{err}"
    );
}

#[test]
fn a_rewritten_file_is_read_anew_once_its_partition_is_removed_as_the_readme_says() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, log, p) = lake_with_100_lines(dir.path());
    std::fs::write(&log, lines(0..50, "x") + &lines(50..80, "new")).unwrap();
    refused(&lake, &[&log]);
    // README, "Rewritten files": the partition's files, its dead letters, and its state.
    let name = format!("ingest-p{p}-o");
    let mut stack = vec![lake.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if file.starts_with(&name) || file.starts_with(&format!("p{p}-o")) {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }
    let state = lake.join(format!("_accesslake/state/ingest/{p}.json"));
    std::fs::rename(&state, state.with_extension("json.old")).unwrap();
    let summary = ingest(&lake, &[&log]);
    assert!(summary.contains(" 80 rows written"), "{summary}");
    let now = rows(&lake);
    assert_eq!(now, (1..=80).map(|l| (p, l)).collect::<Vec<_>>());
}

#[test]
fn a_partition_whose_files_are_in_the_lake_without_its_state_is_refused() {
    // Only the state moved aside, or `_accesslake` removed: a run with other settings wrote
    // files of other names beside the old ones, 50 of the 100 rows twice.
    let dir = tempfile::tempdir().unwrap();
    let (lake, log, p) = lake_with_100_lines(dir.path());
    let state = lake.join(format!("_accesslake/state/ingest/{p}.json"));
    std::fs::rename(&state, state.with_extension("json.old")).unwrap();
    let err = refused(&lake, &[&log]);
    assert!(
        err.contains("holds data files of this partition, but not its state"),
        "{err}"
    );
    assert!(err.contains(&format!("ingest-p{p}-o*")), "{err}");
    std::fs::remove_dir_all(lake.join("_accesslake")).unwrap();
    let out = run(&lake, &[&log]);
    assert!(!out.status.success());
    assert_eq!(rows(&lake), (1..=100).map(|l| (p, l)).collect::<Vec<_>>());
}

/// Makes `path` look left alone for five minutes: its last line is then taken as finished.
fn age(path: &Path) {
    modified(
        path,
        std::time::SystemTime::now() - std::time::Duration::from_secs(300),
    );
}

/// Makes `path` look written to a moment ago, unchanged: its unfinished last line is held back.
fn touch(path: &Path) {
    modified(path, std::time::SystemTime::now());
}

fn modified(path: &Path, when: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// Appends `text` to the file at `path`, as a log writer does.
fn append(path: &Path, text: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text).unwrap();
}

/// A lake and a log of lines 1..`before` of `tag`, then the first `cut` bytes of the next line
/// without a newline, left alone and ingested: the fragment is committed. Returns the lake, the
/// log and that whole next line.
fn fragment_committed(
    dir: &Path,
    tag: &str,
    before: usize,
    cut: usize,
) -> (PathBuf, PathBuf, String) {
    let (lake, log) = (dir.join("lake"), dir.join("slow.log"));
    let next = line(before, tag);
    std::fs::write(&log, format!("{}{}", lines(1..before, tag), &next[..cut])).unwrap();
    age(&log);
    let first = ingest(&lake, &[&log]);
    assert_eq!(count(&first, "lines"), before as u64, "{first}");
    (lake, log, next)
}

/// The number in a summary after `ingested ...: ` for `what` (e.g. "rows written").
fn count(summary: &str, what: &str) -> u64 {
    let at = summary.find(&format!(" {what}")).expect(what);
    let digits = summary[..at].rsplit(' ').next().unwrap();
    digits.parse().unwrap()
}

#[test]
fn a_file_whose_only_line_had_no_newline_keeps_its_partition_when_lines_follow() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("one.log");
    // One line, no newline, left alone: taken as finished and committed.
    std::fs::write(&log, line(0, "x").trim_end()).unwrap();
    age(&log);
    let first = ingest(&lake, &[&log]);
    assert_eq!(count(&first, "rows written"), 1, "{first}");
    // Its newline and two more lines arrive: only those two are new.
    append(&log, format!("\n{}", lines(1..3, "x")).as_bytes());
    let second = ingest(&lake, &[&log]);
    assert_eq!(count(&second, "rows written"), 2, "{second}");
    assert_eq!(count(&second, "already in the lake"), 1, "{second}");
    let rows = rows(&lake);
    let p = rows[0].0;
    assert_eq!(
        rows,
        vec![(p, 1), (p, 2), (p, 3)],
        "each line once, one partition"
    );
    // The same with CRLF line ends (the partial line's id assumed a `\n`).
    let lake = dir.path().join("lake-crlf");
    let log = dir.path().join("crlf.log");
    std::fs::write(&log, line(0, "y").trim_end()).unwrap();
    age(&log);
    assert_eq!(count(&ingest(&lake, &[&log]), "rows written"), 1);
    let crlf = lines(1..3, "y").replace('\n', "\r\n");
    append(&log, format!("\r\n{crlf}").as_bytes());
    let second = ingest(&lake, &[&log]);
    assert_eq!(count(&second, "rows written"), 2, "{second}");
    let rows = crate::rows(&lake);
    let p = rows[0].0;
    assert_eq!(
        rows,
        vec![(p, 1), (p, 2), (p, 3)],
        "CRLF: each line once, one partition"
    );
}

#[test]
fn a_file_of_blank_lines_only_is_held_back_until_a_line_of_content_follows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("blank.log");
    std::fs::write(&log, "\n\n\n").unwrap();
    age(&log);
    let first = ingest(&lake, &[&log]);
    assert!(
        first.contains("1 file(s) of blank lines only held back"),
        "{first}"
    );
    assert_eq!(count(&first, "rejected"), 0, "{first}");
    append(&log, lines(0..2, "b").as_bytes());
    let second = ingest(&lake, &[&log]);
    assert_eq!(count(&second, "rows written"), 2, "{second}");
    assert_eq!(
        count(&second, "rejected"),
        3,
        "the blank lines, once: {second}"
    );
    let third = ingest(&lake, &[&log]);
    assert_eq!(count(&third, "rows written"), 0, "{third}");
    assert_eq!(count(&third, "rejected"), 0, "{third}");
    assert_eq!(count(&third, "already in the lake"), 5, "{third}");
}

#[test]
fn a_live_files_unfinished_last_line_over_the_limit_is_held_back_not_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("live.log");
    // Five lines, then a line still being written, longer than the line limit (1 MiB).
    let long = "q".repeat(3 << 20);
    std::fs::write(&log, format!("{}{long}", lines(0..5, "l"))).unwrap();
    let first = ingest(&lake, &[&log]);
    assert_eq!(count(&first, "rows written"), 5, "{first}");
    assert_eq!(count(&first, "rejected"), 0, "{first}");
    assert!(
        first.contains("1 unfinished last line(s) held back"),
        "{first}"
    );
    // It is finished, and more lines follow: the long line is rejected once, whole, and the
    // file goes on (it was refused as rewritten before).
    append(&log, format!("qq\n{}", lines(6..9, "l")).as_bytes());
    let second = ingest(&lake, &[&log]);
    assert_eq!(count(&second, "rows written"), 3, "{second}");
    assert_eq!(count(&second, "rejected"), 1, "{second}");
    assert_eq!(rows(&lake).len(), 8);
}

#[test]
fn a_line_over_the_limit_committed_unfinished_then_grown_does_not_block_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("long.log");
    // Five lines, then 3 MiB of a line over the limit (1 MiB), no newline, left alone: it is
    // committed (rejected, too long), read past in steps, as the file's unfinished last line.
    let long = "q".repeat(3 << 20);
    std::fs::write(&log, format!("{}{long}", lines(0..5, "m"))).unwrap();
    age(&log);
    let first = ingest(&lake, &[&log]);
    assert_eq!(count(&first, "rows written"), 5, "{first}");
    assert_eq!(count(&first, "rejected"), 1, "{first}");
    // Grown but changed (in its first bytes: the ones it is known by, with its length): refused.
    let committed = std::fs::read(&log).unwrap();
    let mut changed = committed.clone();
    changed[lines(0..5, "m").len() + 100] = b'Q';
    changed.extend_from_slice(b"qq\n");
    std::fs::write(&log, changed).unwrap();
    let err = refused(&lake, &[&log]);
    assert!(err.contains("not an append"), "{err}");
    std::fs::write(&log, committed).unwrap();
    // More of it arrives, still without a newline, in a live file: held back, not refused.
    append(&log, "q".repeat(1 << 20).as_bytes());
    let grown = run(&lake, &[&log]);
    let err = String::from_utf8_lossy(&grown.stderr);
    assert!(grown.status.success(), "refused as rewritten: {err}");
    let grown = String::from_utf8_lossy(&grown.stdout);
    assert!(grown.contains("1 line(s) committed unfinished"), "{grown}");
    assert!(!grown.contains("held back"), "{grown}");
    // Finished, and more lines follow: those only, the line is not rejected again.
    append(&log, format!("qq\n{}", lines(6..9, "m")).as_bytes());
    let done = run(&lake, &[&log]);
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "refused as rewritten: {err}");
    let done = String::from_utf8_lossy(&done.stdout);
    assert_eq!(count(&done, "rows written"), 3, "{done}");
    assert_eq!(count(&done, "rejected"), 0, "{done}");
    assert_eq!(rows(&lake).len(), 8);
}

#[test]
fn a_committed_unfinished_line_held_back_again_stays_checked() {
    for len in [200, 3 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        let log = dir.path().join("paused.log");
        // Five lines and an unfinished sixth, left alone: committed, the sixth as it is.
        let head = lines(0..5, "h");
        std::fs::write(&log, format!("{head}{}", "q".repeat(len))).unwrap();
        age(&log);
        let first = ingest(&lake, &[&log]);
        assert_eq!(count(&first, "lines"), 6, "{len}: {first}");
        // Touched, unchanged: the sixth is held back, but it is in the lake already.
        touch(&log);
        let again = ingest(&lake, &[&log]);
        assert_eq!(count(&again, "rows written"), 0, "{len}: {again}");
        assert!(!again.contains("held back"), "{len}: {again}");
        // The sixth is still the line checked: rewritten, the file is refused (the run that held
        // it back recorded the fifth as the last line, and the rewrite went through).
        std::fs::write(&log, format!("{head}REWRITTEN\n{}", lines(6..8, "h"))).unwrap();
        age(&log);
        let err = refused(&lake, &[&log]);
        assert!(err.contains("line 6 differs"), "{len}: {err}");
    }
    // A sixth line of a lone `\r` (a CRLF writer paused mid-line end) is a line too: touched,
    // the file is not one line short.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("cr.log");
    std::fs::write(&log, format!("{}\r", lines(0..5, "r"))).unwrap();
    age(&log);
    ingest(&lake, &[&log]);
    touch(&log);
    let again = run(&lake, &[&log]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    append(&log, format!("\n{}", lines(6..8, "r")).as_bytes());
    assert_eq!(count(&ingest(&lake, &[&log]), "rows written"), 2);
}

#[test]
fn a_damaged_or_cut_gzip_file_writes_nothing_and_its_intact_copy_then_reads_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let gz = gzip(lines(1..20_001, "gz").as_bytes());
    // Small files, so that commits would come long before the end of the stream, where gzip
    // keeps its checksum.
    let ingest_small = |file: &Path| {
        accesslake(&[
            "ingest",
            "--no-progress",
            "--max-rows",
            "500",
            "--lake",
            lake.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
    };
    let mut flipped = gz.clone();
    flipped[gz.len() * 2 / 3] ^= 0x10;
    for (name, bytes) in [
        ("flip.log.gz", &flipped[..]),
        ("cut.log.gz", &gz[..gz.len() * 2 / 3]),
    ] {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = ingest_small(&path);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {err}");
        assert!(err.contains("nothing of it ingested"), "{name}: {err}");
        assert!(
            rows(&lake).is_empty(),
            "{name}: lines of a damaged file were committed"
        );
    }
    let good = tmp.path().join("access.log.1.gz");
    std::fs::write(&good, &gz).unwrap();
    let out = ingest_small(&good);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = rows(&lake);
    assert_eq!(rows.len(), 20_000);
    assert!(rows.iter().map(|r| r.1).eq(1..=20_000));
}

#[test]
fn a_last_line_committed_unfinished_and_finished_later_does_not_block_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A writer pauses mid-line for over a minute: the first 40 bytes of line 11 are committed.
    let (lake, log, eleventh) = fragment_committed(dir.path(), "s", 11, 40);
    // It finishes the line and writes five more.
    let rest = format!("{}{}", &eleventh[40..], lines(12..17, "s"));
    append(&log, rest.as_bytes());
    let out = run(&lake, &[&log]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "the file is not refused as rewritten: {stderr}"
    );
    assert_eq!(count(&stdout, "rows written"), 5, "{stdout}");
    assert!(
        stdout.contains("1 line(s) committed unfinished"),
        "{stdout}"
    );
    assert!(
        stderr.contains("committed unfinished") && stderr.contains("line=11"),
        "{stderr}"
    );
    let rows = rows(&lake);
    let p = rows[0].0;
    assert_eq!(rows.iter().filter(|r| r.1 > 11).count(), 5);
    assert!(rows.iter().all(|r| r.0 == p), "one partition");
    // And the runs after it go on as usual.
    append(&log, lines(17..19, "s").as_bytes());
    assert_eq!(count(&ingest(&lake, &[&log]), "rows written"), 2);
    // The last line committed, changed, is still refused.
    let text = std::fs::read_to_string(&log)
        .unwrap()
        .replacen("/s18", "/S18", 1);
    std::fs::write(&log, text).unwrap();
    let err = refused(&lake, &[&log]);
    assert!(err.contains("not an append"), "{err}");
}

#[test]
fn committed_files_not_in_place_yet_are_named_by_query_and_published_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("a.log");
    std::fs::write(&log, lines(1..6, "u")).unwrap();
    ingest(&lake, &[&log]);
    // As a disk that filled up between the commit point and the renames leaves it: the state
    // names the file as pending, and it is still in the staging directory.
    let states = lake.join("_accesslake/state/ingest");
    let state = std::fs::read_dir(&states)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).unwrap()).unwrap();
    let partition = state["partition"].as_i64().unwrap();
    let pending = &state["pending"][0];
    let staging = lake.join(format!("_accesslake/staging/ingest/{partition}"));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::rename(
        lake.join(pending["target"].as_str().unwrap()),
        staging.join(pending["staged"].as_str().unwrap()),
    )
    .unwrap();
    let rows_of = |lake: &Path| {
        accesslake(&[
            "query",
            "--lake",
            lake.to_str().unwrap(),
            "--format",
            "csv",
            "SELECT count(*) FROM logs",
        ])
    };
    let out = rows_of(&lake);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("committed files not in place yet")
            && stderr.contains(&format!("partition={partition}")),
        "{stderr}"
    );
    // The next run of that file publishes it; the warning is gone.
    assert_eq!(count(&ingest(&lake, &[&log]), "rows written"), 0);
    let out = rows_of(&lake);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "count_star()\r\n5\r\n",
        "RFC 4180 CSV"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not in place"));
}

#[test]
fn a_line_committed_unfinished_then_finished_as_the_last_line_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, log, last) = fragment_committed(dir.path(), "t", 3, 30);
    // Only the rest of the line arrives: nothing new to write, but the line is recorded as
    // finished, so the next runs find the file as they left it.
    append(&log, &last.as_bytes()[30..]);
    let second = run(&lake, &[&log]);
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("1 line(s) committed unfinished"));
    for _ in 0..2 {
        let again = run(&lake, &[&log]);
        let (out, err) = (
            String::from_utf8_lossy(&again.stdout),
            String::from_utf8_lossy(&again.stderr),
        );
        assert!(again.status.success(), "{err}");
        assert!(
            !out.contains("committed unfinished") && !err.contains("committed unfinished"),
            "{out}{err}"
        );
        assert_eq!(count(&out, "lake files written"), 0, "{out}");
    }
}

#[test]
fn a_line_committed_unfinished_that_grows_without_its_newline_is_not_also_held_back() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, log, last) = fragment_committed(dir.path(), "g", 3, 20);
    // More of the line, still no newline, in a file changed a moment ago.
    append(&log, &last.as_bytes()[20..40]);
    let grown = ingest(&lake, &[&log]);
    assert!(grown.contains("1 line(s) committed unfinished"), "{grown}");
    assert!(
        !grown.contains("held back"),
        "it is in the lake already: {grown}"
    );
    // Finished, and a line after it: that line only, and no second warning.
    let rest = format!("{}{}", &last[40..], line(4, "g"));
    append(&log, rest.as_bytes());
    let done = ingest(&lake, &[&log]);
    assert_eq!(count(&done, "rows written"), 1, "{done}");
    assert!(!done.contains("committed unfinished"), "{done}");
}

#[test]
fn a_line_committed_unfinished_is_reported_once_however_it_grows() {
    // Each step: grow the line by the next 15 bytes (or finish it, with a line after it), then
    // leave the file live or alone; the first growth warns, nothing after it does.
    for (case, steps) in [
        ("live, then alone", &[true, false, false][..]),
        ("alone", &[false, false][..]),
        ("live twice", &[true, true, false][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (lake, log, last) = fragment_committed(dir.path(), "o", 3, 20);
        let mut warned = 0;
        let mut at = 20;
        for (i, &live) in steps.iter().enumerate() {
            let finish = i == steps.len() - 1;
            let more = match finish {
                true => format!("{}{}", &last[at..], line(4, "o")),
                false => last[at..at + 15].to_string(),
            };
            at += 15;
            append(&log, more.as_bytes());
            if live {
                touch(&log);
            } else {
                age(&log);
            }
            let out = run(&lake, &[&log]);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{case}, step {i}: {err}");
            warned += err.matches("committed unfinished").count();
            if finish {
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert_eq!(count(&stdout, "rows written"), 1, "{case}: {stdout}");
            }
        }
        assert_eq!(warned, 1, "{case}");
    }
}

#[test]
fn sigterm_stops_ingest_with_what_was_read_committed_and_the_next_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("big.log");
    let n = 600_000;
    std::fs::write(&log, lines(1..n + 1, "k")).unwrap();
    // Small files, so that commits come all along the run.
    let lake_arg = lake.to_str().unwrap().to_string();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_accesslake"))
        .args([
            "ingest",
            "--no-progress",
            "--max-rows",
            "500",
            "--lake",
            &lake_arg,
        ])
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first file is in the lake, the run is under way.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !lake.join("year=2019").is_dir() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(143), "{stdout}");
    assert!(
        stdout.contains("stopped by a signal with 0 of 1 file(s) read whole"),
        "{stdout}"
    );
    // What was read is committed: lines 1..=k, each once, and not the whole file.
    let rows = rows(&lake);
    let k = rows.len() as i64;
    assert!(k > 0 && k < n as i64, "{k} rows");
    assert!(rows.iter().map(|r| r.1).eq(1..=k));
    // The same command goes on from there, and the lake ends with every line once.
    let rest = ingest(&lake, &[&log]);
    assert_eq!(count(&rest, "already in the lake"), k as u64, "{rest}");
    let rows = crate::rows(&lake);
    assert_eq!(rows.len(), n);
    assert!(rows.iter().map(|r| r.1).eq(1..=n as i64));
}
