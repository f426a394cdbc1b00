//! `compact`'s guards against losing rows from its readers' view.
//!
//! Between a writer's crash and its replay: a late record flushed while an earlier offset's
//! window is still open makes a file whose first offset is past the partition's resume offset;
//! killed then, the writer replays from that offset and writes the open window's rows as a file
//! of the same hour whose first offset is below the late file's. A merge that reached the late
//! file would name a span holding the replay's file too, and every reader would skip that file's
//! rows as one of the merge's inputs: `compact` must leave files at or past the resume offset
//! alone until the writer has read past them. Our readers (the lake's files less those a merged
//! file covers) must see every record exactly once after the crash, the merge and the replay,
//! and after a second `compact` that merges the rest.
//!
//! A merge whose merged file is lost before it is moved into place (its staging directory
//! emptied by hand) must keep its inputs: the next `compact` stops with an error saying so.
//!
//! A listing and a merge's move and deletions never overlap (`listing_lock`): a listing waits
//! while the lock is held exclusively, and a merge waits at its commit point while a listing
//! holds it shared.

mod common;

use accesslake::compact::{compact, compact_until, CompactError, MergeStep};
use accesslake::enrich::Enrichment;
use accesslake::lake::Lake;
use accesslake::lake_files::{covered, lake_files, DataName, Listing};
use accesslake::listing_lock::lock_path;
use accesslake::pipeline::{PartitionPipeline, WindowSettings};
use accesslake::query::TimeRange;
use common::{lake_provenance_of, record};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// 2019-01-22T10:00:00Z.
const HOUR: i64 = 1_548_151_200;

/// Offset → event time (seconds past 10:00). Minute windows with 30 s of lateness: offsets 0–3
/// are flushed as the watermark passes their windows; offset 6 is late (10:01, closed long
/// since) and waits for the next window to close, 10:05's (offset 4) at offset 7, while 10:06's
/// (offsets 5 and 7) stays open.
const STREAM: [(i64, i64); 8] = [
    (0, 70),
    (1, 130),
    (2, 190),
    (3, 250),
    (4, 310),
    (5, 365),
    (6, 90),
    (7, 400),
];

fn open(lake: &Lake) -> PartitionPipeline {
    let settings = WindowSettings {
        window_secs: 60,
        lateness_secs: 30,
        max_rows: 1000,
        ..WindowSettings::default()
    };
    PartitionPipeline::open(lake, "t", 0, settings).unwrap()
}

fn push_from(p: &mut PartitionPipeline, from: i64) {
    for &(o, secs) in STREAM.iter().filter(|(o, _)| *o >= from) {
        p.push(o, &record(HOUR + secs, o), &Enrichment::default())
            .unwrap();
    }
}

/// Each offset as often as our readers see it: the lake's data files less the ones a merged
/// file covers.
fn seen(lake: &Path) -> BTreeMap<i64, usize> {
    let files = lake_files(lake).unwrap();
    let covered = covered(&files);
    let mut out = BTreeMap::new();
    for f in files.iter().filter(|f| !covered.contains(&f.path)) {
        for (_, offset) in lake_provenance_of(&f.path) {
            *out.entry(offset).or_default() += 1;
        }
    }
    out
}

fn first_offsets(lake: &Path) -> Vec<(i64, Option<i64>)> {
    let mut out: Vec<_> = lake_files(lake)
        .unwrap()
        .iter()
        .map(|f| DataName::parse(&f.path).unwrap())
        .map(|n| (n.first, n.through))
        .collect();
    out.sort();
    out
}

#[test]
fn compact_leaves_files_past_the_resume_offset_for_after_the_replay() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut p = open(&lake);
    push_from(&mut p, 0);
    let resume = p.resume_offset();
    // Killed here: the late file is committed, the two open windows are not.
    drop(p);
    assert_eq!(
        resume,
        Some(5),
        "the test's premise: offsets 5 and 7 still buffered"
    );
    let files = first_offsets(dir.path());
    assert_eq!(
        files,
        [
            (0, None),
            (1, None),
            (2, None),
            (3, None),
            (4, None),
            (6, None)
        ],
        "the test's premise: the late file (6) is past the resume offset"
    );

    let now = accesslake::window::now_micros();
    let c = compact(dir.path(), now, 1000, false, Duration::ZERO).unwrap();
    assert_eq!((c.inputs, c.outputs, c.unsettled), (5, 1, 1), "{c:?}");
    assert_eq!(first_offsets(dir.path()), [(0, Some(4)), (6, None)]);

    // The writer comes back and replays from its resume offset: 5 and 7 are written now, in a
    // file that starts below the late file's offset; 6 is skipped.
    let mut p = open(&lake);
    assert_eq!(p.resume_offset(), Some(5));
    push_from(&mut p, 5);
    p.flush_all().unwrap();
    drop(p);
    let once: BTreeMap<i64, usize> = STREAM.iter().map(|&(o, _)| (o, 1)).collect();
    assert_eq!(seen(dir.path()), once);

    // The writer has read past every file now: the next `compact` merges them all.
    let c = compact(dir.path(), now, 1000, false, Duration::ZERO).unwrap();
    assert_eq!((c.inputs, c.outputs, c.unsettled), (3, 1, 0), "{c:?}");
    assert_eq!(first_offsets(dir.path()), [(0, Some(6))]);
    assert_eq!(seen(dir.path()), once);
}

#[test]
fn a_merge_whose_merged_file_is_lost_keeps_its_inputs() {
    let dir = flushed_lake();
    let once: BTreeMap<i64, usize> = STREAM.iter().map(|&(o, _)| (o, 1)).collect();
    let inputs = first_offsets(dir.path());
    let now = accesslake::window::now_micros();
    let step = MergeStep::SummariesRemoved;
    let stopped = compact_until(dir.path(), now, 1000, false, Duration::ZERO, Some(step));
    assert!(
        matches!(stopped, Err(CompactError::Stopped(s)) if s == step),
        "{stopped:?}"
    );
    // The staged merged file goes; the journal stays.
    let staging = dir.path().join("_accesslake/compact");
    for entry in std::fs::read_dir(&staging).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() != "journal.json" {
            std::fs::remove_file(path).unwrap();
        }
    }
    let err = compact(dir.path(), now, 1000, false, Duration::ZERO).unwrap_err();
    assert!(matches!(err, CompactError::MergedFileGone { .. }), "{err}");
    assert!(err.to_string().contains("its inputs are all kept"), "{err}");
    assert_eq!(first_offsets(dir.path()), inputs);
    assert_eq!(seen(dir.path()), once);
}

/// A lake of the stream, all of it flushed: six files in one hour to merge.
fn flushed_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut p = open(&lake);
    push_from(&mut p, 0);
    p.flush_all().unwrap();
    dir
}

#[test]
fn a_listing_waits_while_a_merge_moves_and_deletes() {
    let dir = flushed_lake();
    let lake = dir.path().to_path_buf();
    let files = lake_files(&lake).unwrap().len();
    // No merge yet: no lock file, and a listing needs none.
    assert!(!lock_path(&lake).exists());
    assert_eq!(
        Listing::new(&lake, &TimeRange::default(), true)
            .unwrap()
            .all
            .len(),
        files
    );
    // The lock held as a merge holds it for its move and deletions.
    std::fs::create_dir_all(lock_path(&lake).parent().unwrap()).unwrap();
    let held = std::fs::File::create(lock_path(&lake)).unwrap();
    held.lock().unwrap();
    std::thread::scope(|s| {
        let listing = s.spawn(|| Listing::new(&lake, &TimeRange::default(), true));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !listing.is_finished(),
            "a listing went ahead of a merge's move"
        );
        drop(held);
        assert_eq!(listing.join().unwrap().unwrap().all.len(), files);
    });
}

#[test]
fn a_merge_waits_at_its_commit_point_while_a_listing_holds_the_lock() {
    let dir = flushed_lake();
    let lake = dir.path().to_path_buf();
    let inputs = first_offsets(&lake);
    std::fs::create_dir_all(lock_path(&lake).parent().unwrap()).unwrap();
    std::fs::File::create(lock_path(&lake)).unwrap();
    let reading = std::fs::File::open(lock_path(&lake)).unwrap();
    reading.lock_shared().unwrap();
    let journal = lake.join("_accesslake/compact/journal.json");
    let now = accesslake::window::now_micros();
    std::thread::scope(|s| {
        let merge = s.spawn(|| compact(&lake, now, 1000, false, Duration::ZERO));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !journal.exists() && !merge.is_finished() {
            assert!(
                Instant::now() < deadline,
                "the merge never reached its commit point"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(!merge.is_finished(), "a merge went ahead of a listing");
        assert_eq!(first_offsets(&lake), inputs, "files moved under a listing");
        drop(reading);
        let c = merge.join().unwrap().unwrap();
        assert_eq!((c.inputs, c.outputs), (inputs.len(), 1), "{c:?}");
    });
    assert_eq!(first_offsets(&lake), [(0, Some(6))]);
    let once: BTreeMap<i64, usize> = STREAM.iter().map(|&(o, _)| (o, 1)).collect();
    assert_eq!(seen(&lake), once);
}
