//! Damaged lakes: `accesslake check` lists every file of a copy of the test lake that was damaged,
//! changed or removed, and only those; and `query` and `report` name a file damaged inside its
//! pages, which DuckDB's own error does not.

mod common;
mod query_support;

use query_support::{accesslake, build_lake, copied_lake, TestLake};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn lake() -> &'static TestLake {
    static LAKE: OnceLock<TestLake> = OnceLock::new();
    LAKE.get_or_init(build_lake)
}

/// Overwrites the header of the first page of `column` in the Parquet file at `path` (its
/// dictionary page, or its first data page) with bytes that do not decode: the length and the
/// footer stay as they were.
fn damage_page(path: &Path, column: &str) {
    let file = std::fs::File::open(path).unwrap();
    let meta = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .unwrap();
    let columns = meta.row_group(0).columns();
    let chunk = columns.iter().find(|c| c.column_path().string() == column);
    let chunk = chunk.unwrap_or_else(|| panic!("{}: no column {column}", path.display()));
    let at = chunk
        .dictionary_page_offset()
        .unwrap_or(chunk.data_page_offset()) as usize;
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at..at + 16].fill(0xff);
    std::fs::write(path, bytes).unwrap();
}

/// The summary of data file `data` in `lake`.
fn summary_of(lake: &Path, data: &Path) -> std::path::PathBuf {
    let rel = data.strip_prefix(lake).unwrap().to_str().unwrap();
    lake.join(accesslake::lake::Lake::summary_target(rel))
}

#[test]
fn a_file_damaged_inside_its_pages_is_named() {
    let (_dir, copied) = copied_lake(lake());
    let path = copied.to_str().unwrap();
    let files = accesslake::query::lake_files(&copied).unwrap();
    let data = &files[files.len() / 2].path;
    damage_page(data, "path");
    let name = data.to_str().unwrap();
    // `query`, and a report from the rows, read the page and name the file.
    let sql = "SELECT count(*), sum(length(path)) FROM logs";
    for args in [
        &["query", "--lake", path, sql][..],
        &["report", "--lake", path, "--no-summaries"],
    ] {
        let out = accesslake(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains("1 of the") && err.contains(name),
            "{args:?}: {err}"
        );
        assert!(err.contains("restore each damaged data file"), "{err}");
    }
    // A statement that reads none of the damaged column reads the file, as does a statement's
    // own error: no search.
    let out = accesslake(&["query", "--lake", path, "SELECT count(status) FROM logs"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let out = accesslake(&["query", "--lake", path, "SELECT nope FROM logs"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Binder Error") && !err.contains(name), "{err}");
    // A function rejecting its argument is the statement's own error too, though of a class
    // DuckDB also raises for damage: the message as DuckDB gave it, no search.
    let out = accesslake(&["query", "--lake", path, "SELECT error(method) FROM logs"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("Invalid Input Error") && !err.contains("searched"),
        "{err}"
    );
    let sql = "SELECT strptime(method, '%Y') FROM logs";
    let out = accesslake(&["query", "--lake", path, sql]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Invalid Input Error") && !err.contains("searched"),
        "{err}"
    );
    // A summary damaged alike: named, with its own way out.
    let summary = summary_of(&copied, &files[0].path);
    damage_page(&summary, "path");
    let out = accesslake(&["report", "--lake", path]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(summary.to_str().unwrap()) && err.contains("--no-summaries"),
        "{err}"
    );
}

#[test]
fn check_lists_every_damaged_changed_or_missing_file_and_nothing_else() {
    // The test lake as written: every file reads, every summary adds up.
    let out = accesslake(&["check", "--lake", lake().lake_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = accesslake::query::lake_files(&lake().lake).unwrap();
    let count = common::stdout_of(accesslake(&[
        "query",
        "--lake",
        lake().lake_str(),
        "--format",
        "csv",
        "SELECT count(*) FROM logs",
    ]));
    let rows = count.lines().nth(1).unwrap();
    let n = files.len();
    assert_eq!(
        text.trim_end().lines().collect::<Vec<_>>().len(),
        1,
        "findings on a sound lake: {text}"
    );
    assert!(
        text.starts_with(&format!(
            "read {n} data file(s) ({rows} rows), {n} summary file(s), "
        )) && text.contains("no problem found"),
        "{text}"
    );

    // Five files damaged five ways in a copy, and a resume state cut short.
    let (_dir, copied) = copied_lake(lake());
    let files = accesslake::query::lake_files(&copied).unwrap();
    assert!(files.len() >= 7, "{} files", files.len());
    let len = |p: &Path| std::fs::metadata(p).unwrap().len();
    let [paged, replaced, removed, summarised, edited] =
        [0, 1, 2, 3, 4].map(|i| files[i].path.clone());
    damage_page(&paged, "referrer");
    // A summary rewritten with twice the requests, its record of its data file kept.
    let edited = summary_of(&copied, &edited);
    query_support::python(
        "import sys, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq\n\
         t = pq.read_table(sys.argv[1])\n\
         i = t.schema.get_field_index('requests')\n\
         t = t.set_column(i, t.field(i), pc.multiply(t.column(i), 2))\n\
         pq.write_table(t, sys.argv[1])\n",
        &[edited.to_str().unwrap()],
    );
    let other = files[5..]
        .iter()
        .find(|f| len(&f.path) != len(&replaced))
        .expect("a file of another length");
    std::fs::copy(&other.path, &replaced).unwrap();
    std::fs::remove_file(&removed).unwrap();
    let summary = summary_of(&copied, &summarised);
    damage_page(&summary, "kind");
    let states = copied.join("_accesslake/state/ingest");
    let mut jsons: Vec<PathBuf> = std::fs::read_dir(&states)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    let (state, lost) = match &jsons[..] {
        [first, .., last] => (first.clone(), last.clone()),
        _ => panic!("two partitions expected: {jsons:?}"),
    };
    std::fs::write(&state, b"{\"format\": 1, ").unwrap();
    // Another partition's state removed, its data files kept.
    std::fs::remove_file(&lost).unwrap();
    // Parquet files the lake's writers did not write, beside the first file: one named as no
    // writer names a file, one named as they do but with other columns.
    let dir = paged.parent().unwrap();
    let foreign = dir.join("backup.parquet");
    let (stem, _) = paged.to_str().unwrap().rsplit_once("-o").unwrap();
    let alien = PathBuf::from(format!("{stem}-o999999999.parquet"));
    for f in [&foreign, &alien] {
        query_support::python(
            "import sys, pyarrow as pa, pyarrow.parquet as pq\n\
             pq.write_table(pa.table({'x': [1, 2, 3]}), sys.argv[1])\n",
            &[f.to_str().unwrap()],
        );
    }
    // A dead-letter file cut short in its second line.
    let rejected = copied.join("_accesslake/rejected/ingest");
    std::fs::create_dir_all(&rejected).unwrap();
    let cut = rejected.join("p7-o3.jsonl");
    std::fs::write(
        &cut,
        "{\"file\":\"a.log\",\"line\":3,\"error\":\"empty line (at byte 0)\",\"raw\":\"\"}\n\
         {\"file\":\"a.log\",\"line\":4,\"err",
    )
    .unwrap();
    let out = accesslake(&["check", "--lake", copied.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("10 problem(s)"), "{err}");
    assert!(
        text.contains("and 1 dead-letter file(s) (2 dead letters)"),
        "{text}"
    );
    let findings: Vec<&str> = text.lines().filter(|l| !l.starts_with("read ")).collect();
    let expected = [
        (paged, "cannot be read in full"),
        (replaced, "not the file its summary describes"),
        (
            summary_of(&copied, &removed),
            "a summary without its data file",
        ),
        (summary, "cannot be read in full"),
        (edited, "counts "),
        (state.clone(), "a resume state `ingest` and `run` refuse"),
        (
            lost.clone(),
            "missing: the lake holds data files of source ingest",
        ),
        (foreign.clone(), "not a file of this lake"),
        (alien, "its columns are not the lake's (x)"),
        (
            cut.clone(),
            "1 of its 2 line(s) are not a dead letter's JSON",
        ),
    ];
    for (file, what) in &expected {
        let prefix = format!("{}: {what}", file.display());
        assert!(
            findings.iter().any(|l| l.starts_with(&prefix)),
            "{prefix} not in:\n{text}"
        );
    }
    assert_eq!(findings.len(), expected.len(), "{text}");
    // A range reads only its hours' files (the last hour holds none of the damage); the states,
    // which span every hour, and the dead letters, which have none, are all read.
    let last = files.last().unwrap();
    assert!(
        last.hour_start > files[3].hour_start,
        "the test lake spans one hour"
    );
    let hour = accesslake::report::rfc3339(last.hour_start);
    let out = accesslake(&["check", "--lake", copied.to_str().unwrap(), "--from", &hour]);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(!out.status.success(), "{text}");
    assert_eq!(lines.len(), 4, "{text}");
    for (line, file) in lines.iter().zip([&state, &cut, &lost]) {
        assert!(line.starts_with(&format!("{}: ", file.display())), "{text}");
    }
    assert!(lines[3].ends_with("3 problem(s)"), "{text}");
    // `query` skips the file no writer named, and says so.
    let out = accesslake(&["query", "--lake", copied.to_str().unwrap(), "SELECT 1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("are not read: `accesslake check` lists them"),
        "{err}"
    );
    assert!(err.contains("backup.parquet"), "{err}");
    let out = accesslake(&["check", "--lake", copied.to_str().unwrap(), "--from", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid time \"x\""));
}

#[test]
fn check_finds_any_changed_byte_of_a_data_file_even_one_that_still_decodes() {
    use accesslake::query::TimeRange;
    let (_dir, copied) = copied_lake(lake());
    let files = accesslake::query::lake_files(&copied).unwrap();
    let file = files
        .iter()
        .max_by_key(|f| f.path.metadata().unwrap().len());
    let file = file.unwrap();
    // Its hour only: each round reads one file and its summary.
    let range = TimeRange {
        from: Some(file.hour_start),
        to: Some(file.hour_start + 3_600_000_000),
    };
    let clean = accesslake::check::check(&copied, range).unwrap();
    assert_eq!(clean.findings, [], "the copy as written");
    let original = std::fs::read(&file.path).unwrap();
    let footer_len = u32::from_le_bytes(original[original.len() - 8..][..4].try_into().unwrap());
    let pages = 4..original.len() - 8 - footer_len as usize;
    // One byte changed at a time, at 64 places across the pages (never the footer, which
    // `report` compares too): each is found, whether or not the file still decodes.
    let (mut decoded, mut rounds) = (0, 0);
    for i in 0..64 {
        let at = pages.start + (pages.end - pages.start) * i / 64 + 3;
        let mut bytes = original.clone();
        bytes[at] ^= 0x10;
        std::fs::write(&file.path, &bytes).unwrap();
        let found = accesslake::check::check(&copied, range).unwrap().findings;
        assert!(
            found.iter().any(|f| f.path == file.path),
            "byte {at} of {} changed, and not found: {found:?}",
            file.path.display()
        );
        rounds += 1;
        decoded += usize::from(found.iter().all(|f| {
            f.problem
                .contains("its bytes differ from the committed file's")
        }));
    }
    std::fs::write(&file.path, &original).unwrap();
    assert_eq!(
        accesslake::check::check(&copied, range).unwrap().findings,
        []
    );
    // The CRC is what finds a change the file still decodes with.
    assert!(
        decoded > 0,
        "every one of {rounds} changes failed to decode"
    );
}
