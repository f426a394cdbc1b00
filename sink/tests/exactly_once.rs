//! Exactly-once through crashes: a partition's commits are stopped at every instant the pipeline
//! exposes (files staged; state committed, nothing published; half published), the pipeline is
//! dropped as a crash would drop it, reopened (recovery) and the stream replayed from its resume
//! offset (or from the very start, as a broker with a stale committed offset would); the lake
//! must end with every record exactly once and every rejected record exactly once in the dead
//! letters, late records included. Every scenario runs twice: records pushed one at a time (the
//! Kafka sink) and in chunks of ready-built rows (`ingest`'s workers, [`PartitionPipeline::push_batch`]);
//! both must also produce the very same files.

mod common;

use accesslake::enrich::Enrichment;
use accesslake::lake::Lake;
use accesslake::pipeline::{CommitStep, PartitionPipeline, WindowSettings};
use accesslake::rows::{Provenance, Rows};
use common::*;
use std::collections::BTreeMap;

const BASE: i64 = 1_548_118_574; // 2019-01-22T00:56:14Z

/// The input stream: offset → Some(event time in seconds) for a record, None for a poison one.
fn stream(n: i64) -> Vec<(i64, Option<i64>)> {
    (0..n)
        .map(|o| {
            if o % 37 == 5 {
                (o, None)
            } else if o % 50 == 49 {
                (o, Some(BASE - 4000)) // far behind the watermark: late, an earlier hour
            } else {
                (o, Some(BASE + o * 7 + (o % 3) * 20)) // mostly ordered, some jitter
            }
        })
        .collect()
}

fn settings() -> WindowSettings {
    WindowSettings {
        window_secs: 60,
        lateness_secs: 30,
        max_rows: 40,
        ..WindowSettings::default()
    }
}

/// How records reach the pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// `push` / `push_rejected`, one record at a time.
    OneByOne,
    /// `push_batch` with chunks of this many offsets.
    Chunks(usize),
    /// As `Chunks`, with commits on the background threads (as `ingest` runs them): staging of
    /// one commit overlaps the commit point and publishing of the one before.
    Background(usize),
}

const MODES: [Mode; 3] = [Mode::OneByOne, Mode::Chunks(13), Mode::Background(13)];

/// Opens (recovers) the test partition, with the background writer in `Mode::Background`.
fn open(mode: Mode, lake: &Lake) -> PartitionPipeline {
    let p = PartitionPipeline::open(lake, "t", 3, settings()).unwrap();
    match mode {
        Mode::Background(_) => p.with_background_writer().unwrap(),
        _ => p,
    }
}

fn dead_letter(o: i64) -> Vec<u8> {
    format!("{{\"offset\":{o}}}").into_bytes()
}

/// Pushes one chunk of `input` the way `mode` does.
fn push_chunk(
    mode: Mode,
    p: &mut PartitionPipeline,
    chunk: &[&(i64, Option<i64>)],
) -> accesslake::Result<Option<accesslake::pipeline::Committed>> {
    let enr = Enrichment::default();
    match mode {
        Mode::OneByOne => match *chunk[0] {
            (o, Some(t)) => p.push(o, &record(t, o), &enr),
            (o, None) => p.push_rejected(o, &dead_letter(o)),
        },
        Mode::Chunks(_) | Mode::Background(_) => {
            let mut rows = Rows::with_capacity(chunk.len());
            let mut rejected = Vec::new();
            for &&(o, t) in chunk {
                match t {
                    Some(t) => rows.push(
                        &record(t, o),
                        &enr,
                        Provenance {
                            src_partition: 3,
                            src_offset: o,
                        },
                    ),
                    None => rejected.push((o, dead_letter(o))),
                }
            }
            p.push_batch(&rows.finish(), &rejected)
        }
    }
}

/// The size of the chunks `mode` pushes.
fn chunk_size(mode: Mode) -> usize {
    match mode {
        Mode::OneByOne => 1,
        Mode::Chunks(n) | Mode::Background(n) => n,
    }
}

/// Feeds `input` from `from` on, as [`feed_as`] does, without the final flush.
fn feed_without_flush(
    mode: Mode,
    p: &mut PartitionPipeline,
    input: &[(i64, Option<i64>)],
    from: i64,
) {
    let todo: Vec<_> = input.iter().filter(|(o, _)| *o >= from).collect();
    for chunk in todo.chunks(chunk_size(mode)) {
        push_chunk(mode, p, chunk).unwrap();
    }
}

/// Feeds `input` from `from` on; returns Err(()) when the injected fault fires.
fn feed_as(
    mode: Mode,
    p: &mut PartitionPipeline,
    input: &[(i64, Option<i64>)],
    from: i64,
    fault_after: Option<(usize, CommitStep)>,
) -> Result<(), ()> {
    let todo: Vec<_> = input.iter().filter(|(o, _)| *o >= from).collect();
    let size = chunk_size(mode);
    for (c, chunk) in todo.chunks(size).enumerate() {
        if let Some((k, step)) = fault_after {
            if (c * size..(c + 1) * size).contains(&k) {
                p.inject_fault(Some(step));
            }
        }
        let r = push_chunk(mode, p, chunk);
        if let Err(e) = r {
            assert!(e.to_string().contains("fault injected"), "{e}");
            return Err(());
        }
    }
    match p.flush_all() {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("fault injected") => Err(()),
        Err(e) => panic!("{e}"),
    }
}

fn check_exactly_once(dir: &std::path::Path, input: &[(i64, Option<i64>)]) {
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for (part, off) in lake_provenance(dir) {
        assert_eq!(part, 3);
        *seen.entry(off).or_default() += 1;
    }
    let mut dead: BTreeMap<i64, usize> = BTreeMap::new();
    for d in dead_letters(dir) {
        *dead.entry(d["offset"].as_i64().unwrap()).or_default() += 1;
    }
    for &(o, t) in input {
        let (map, other) = if t.is_some() {
            (&seen, &dead)
        } else {
            (&dead, &seen)
        };
        assert_eq!(
            map.get(&o),
            Some(&1),
            "offset {o} must be in the lake exactly once"
        );
        assert_eq!(other.get(&o), None);
    }
    assert_eq!(seen.len() + dead.len(), input.len());
    // Nothing staged is left behind.
    let staging = dir.join("_accesslake/staging/t/3");
    assert_eq!(
        std::fs::read_dir(staging).map(|d| d.count()).unwrap_or(0),
        0
    );
}

/// Every file of the lake (relative path) with the offsets it holds, in row order.
fn lake_files(dir: &std::path::Path) -> BTreeMap<String, Vec<i64>> {
    parquet_files(dir)
        .into_iter()
        .map(|f| {
            let offsets = read_parquet(&f)
                .iter()
                .flat_map(|b| {
                    let c = b.column_by_name("src_offset").unwrap();
                    let c = c
                        .as_any()
                        .downcast_ref::<arrow::array::Int64Array>()
                        .unwrap();
                    c.values().to_vec()
                })
                .collect();
            let rel = f.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            (rel, offsets)
        })
        .collect()
}

#[test]
fn every_mode_makes_the_same_lake() {
    let input = stream(500);
    let mut lakes = Vec::new();
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let mut p = open(mode, &lake);
        feed_as(mode, &mut p, &input, 0, None).unwrap();
        check_exactly_once(dir.path(), &input);
        let stats = p.stats().clone();
        let state = p.state().cloned();
        lakes.push((lake_files(dir.path()), stats, state, dir));
    }
    let a = &lakes[0];
    assert!(a.0.len() > 5, "several files: {:?}", a.0.keys());
    for (b, mode) in lakes[1..].iter().zip(&MODES[1..]) {
        assert_eq!(
            a.0, b.0,
            "{mode:?}: same files holding the same offsets in the same order"
        );
        assert_eq!(
            a.1, b.1,
            "{mode:?}: same counters (late, skipped, commits, ...)"
        );
        assert_eq!(a.2, b.2, "{mode:?}: same committed state");
    }
}

#[test]
fn no_crash_baseline() {
    for mode in MODES {
        no_crash_baseline_as(mode);
    }
}

fn no_crash_baseline_as(mode: Mode) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let input = stream(500);
    let mut p = open(mode, &lake);
    assert_eq!(p.resume_offset(), None);
    feed_as(mode, &mut p, &input, 0, None).unwrap();
    assert!(p.stats().late > 0, "the stream has late records");
    assert!(p.stats().commits > 3);
    assert_eq!(p.resume_offset(), Some(500));
    check_exactly_once(dir.path(), &input);
    // Late rows landed in their own (earlier) hour partition.
    assert!(dir
        .path()
        .join("year=2019/month=01/day=21/hour=23")
        .is_dir());
    // Replaying everything again adds nothing.
    drop(p);
    let mut p = open(mode, &lake);
    feed_as(mode, &mut p, &input, 0, None).unwrap();
    assert_eq!(p.stats().skipped, 500);
    assert_eq!(p.stats().files, 0);
    check_exactly_once(dir.path(), &input);
}

#[test]
fn crash_at_every_commit_step_then_replay() {
    let input = stream(400);
    for mode in MODES {
        for step in [
            CommitStep::Staged,
            CommitStep::StateWritten,
            CommitStep::HalfPublished,
        ] {
            for crash_at in [3usize, 41, 97, 160, 250, 333, 399] {
                for replay_from_start in [false, true] {
                    let dir = tempfile::tempdir().unwrap();
                    let lake = Lake::open(dir.path()).unwrap();
                    let mut p = open(mode, &lake);
                    let crashed = feed_as(mode, &mut p, &input, 0, Some((crash_at, step))).is_err();
                    drop(p); // the crash: everything in memory is gone
                    let mut p = open(mode, &lake);
                    let from = if replay_from_start {
                        0
                    } else {
                        p.resume_offset().unwrap_or(0)
                    };
                    if crashed {
                        feed_as(mode, &mut p, &input, from, None).unwrap();
                    }
                    check_exactly_once(dir.path(), &input);
                }
            }
        }
    }
}

#[test]
fn repeated_crashes() {
    for mode in MODES {
        repeated_crashes_as(mode);
    }
}

fn repeated_crashes_as(mode: Mode) {
    let input = stream(600);
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let steps = [
        CommitStep::HalfPublished,
        CommitStep::Staged,
        CommitStep::StateWritten,
    ];
    let mut crashes = 0;
    for round in 0..30 {
        let mut p = open(mode, &lake);
        let from = p.resume_offset().unwrap_or(0);
        if feed_as(
            mode,
            &mut p,
            &input,
            from,
            Some((17 + round * 5, steps[round % 3])),
        )
        .is_ok()
        {
            break;
        }
        crashes += 1;
    }
    assert!(crashes >= 3);
    check_exactly_once(dir.path(), &input);
}

#[test]
fn dead_letters_are_committed_at_their_byte_bound() {
    // Rejected records only, each letter about 16 bytes, a bound of 300 bytes: the buffer is
    // committed every 19 or so letters (not held until max_rows or the end), and each letter
    // is still in the lake exactly once.
    let input: Vec<(i64, Option<i64>)> = (0..200).map(|o| (o, None)).collect();
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let bounded = WindowSettings {
        max_text_bytes: 300,
        ..settings()
    };
    let mut p = PartitionPipeline::open(&lake, "t", 3, bounded).unwrap();
    let mut commits = 0;
    for &(o, _) in &input {
        if p.push_rejected(o, &dead_letter(o)).unwrap().is_some() {
            commits += 1;
        }
    }
    p.flush_all().unwrap();
    assert!((9..=12).contains(&commits), "{commits} commits");
    check_exactly_once(dir.path(), &input);
}

#[test]
fn a_new_window_length_after_a_crash_writes_nothing_twice() {
    // A crash leaves windows of 60 s committed past the resume offset; the restart asks for
    // 300 s. The committed length must stay until the replay is past those windows (else their
    // records' keys change and they are written again), then the new length applies: from
    // there, not only after the run's final flush.
    let input = stream(400);
    let mut with_flushed_windows = 0;
    for mode in MODES {
        for crash_at in [41usize, 97, 160, 250] {
            for replay_from_start in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let lake = Lake::open(dir.path()).unwrap();
                let mut p = open(mode, &lake);
                let fault = Some((crash_at, CommitStep::StateWritten));
                assert!(feed_as(mode, &mut p, &input, 0, fault).is_err());
                drop(p);
                let longer = WindowSettings {
                    window_secs: 300,
                    ..settings()
                };
                let p = PartitionPipeline::open(&lake, "t", 3, longer).unwrap();
                let mut p = match mode {
                    Mode::Background(_) => p.with_background_writer().unwrap(),
                    _ => p,
                };
                let past = p.state().and_then(|s| {
                    s.flushed
                        .iter()
                        .filter(|(k, _)| k.as_str() != "rejected")
                        .map(|(_, &f)| f)
                        .max()
                });
                with_flushed_windows += usize::from(past.is_some());
                assert_eq!(p.window_secs(), if past.is_some() { 60 } else { 300 });
                let from = match replay_from_start {
                    true => 0,
                    false => p.resume_offset().unwrap_or(0),
                };
                // Up to a chunk past the last committed window: the new length applies.
                let upto = past.map_or(from, |f| f + 13);
                let head: Vec<_> = input.iter().copied().filter(|(o, _)| *o < upto).collect();
                if let Some(f) = past {
                    feed_without_flush(mode, &mut p, &head, from);
                    assert_eq!(p.window_secs(), 300, "{mode:?}: past offset {f}");
                }
                feed_as(mode, &mut p, &input, upto.max(from), None).unwrap();
                check_exactly_once(dir.path(), &input);
                assert_eq!(p.window_secs(), 300);
            }
        }
    }
    assert!(
        with_flushed_windows > 0,
        "no crash left a window past the resume offset"
    );
}

#[test]
fn a_second_writer_waits_for_the_first_and_resumes_from_its_commits() {
    use std::time::Duration;
    let input = stream(400);
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let mut first = open(mode, &lake);
        // Half the stream, its last windows still buffered (a member about to lose its session).
        let half: Vec<_> = input[..200].to_vec();
        let enr = Enrichment::default();
        for &(o, t) in &half {
            match t {
                Some(t) => first.push(o, &record(t, o), &enr).map(drop).unwrap(),
                None => first.push_rejected(o, &dead_letter(o)).map(drop).unwrap(),
            }
        }
        // A second writer of the partition is refused at once, or waits when asked to.
        let err = PartitionPipeline::open(&lake, "t", 3, settings())
            .err()
            .expect("the partition is held");
        assert!(
            err.to_string()
                .contains("another writer holds this partition"),
            "{err}"
        );
        let waiting = {
            let lake = lake.clone();
            std::thread::spawn(move || {
                let lock = lake
                    .lock_partition("t", 3, Duration::from_secs(60))
                    .unwrap();
                PartitionPipeline::open_locked(&lake, "t", 3, settings(), lock).unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiting.is_finished(), "the second writer waits");
        // The first one commits what it holds, then lets go; the second starts from there.
        first.flush_all().unwrap();
        let resume = first.resume_offset();
        assert_eq!(resume, Some(200));
        drop(first);
        let mut second = waiting.join().unwrap();
        if let Mode::Background(_) = mode {
            second = second.with_background_writer().unwrap();
        }
        assert_eq!(second.resume_offset(), resume, "{mode:?}");
        feed_as(mode, &mut second, &input, 200, None).unwrap();
        check_exactly_once(dir.path(), &input);
        // Another partition's lock does not open this one.
        let other = lake.lock_partition("t", 4, Duration::ZERO).unwrap();
        let err = PartitionPipeline::open_locked(&lake, "t", 5, settings(), other)
            .err()
            .expect("the wrong lock");
        assert!(err.to_string().contains("is not this partition's"), "{err}");
    }
}

#[test]
fn parse_settings_changed_after_a_crash_wait_for_the_committed_windows() {
    let input = stream(400);
    let (mut kept, mut switched) = (0, 0);
    for crash_at in [0usize, 3, 41, 97, 160, 250, 333] {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(dir.path()).unwrap();
        let mut p = open(Mode::OneByOne, &lake);
        assert_eq!(p.parse_settings("format=auto"), "format=auto");
        let fault = Some((crash_at, CommitStep::StateWritten));
        assert!(feed_as(Mode::OneByOne, &mut p, &input, 0, fault).is_err());
        drop(p);
        // Restarted with other settings: while records past the resume offset are committed
        // (under the old ones), the old ones stay for the run.
        let mut p = open(Mode::OneByOne, &lake);
        let past_resume = p.state().is_some_and(|s| !s.flushed.is_empty());
        let chosen = p.parse_settings("format=combined");
        if past_resume {
            assert_eq!(chosen, "format=auto", "crash at {crash_at}");
            kept += 1;
        } else {
            assert_eq!(chosen, "format=combined", "crash at {crash_at}");
            switched += 1;
        }
        let from = p.resume_offset().unwrap_or(0);
        feed_as(Mode::OneByOne, &mut p, &input, from, None).unwrap();
        assert_eq!(
            p.state().and_then(|s| s.parse.as_deref()),
            Some(chosen.as_str())
        );
        drop(p);
        check_exactly_once(dir.path(), &input);
        // The run finished (everything flushed): the next one takes the configured settings.
        let mut p = open(Mode::OneByOne, &lake);
        assert_eq!(p.parse_settings("format=combined"), "format=combined");
    }
    assert!(kept > 0, "kept {kept}, switched {switched}");
    // A run that crashed before its first commit point left nothing: the new settings apply.
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path()).unwrap();
    let mut p = open(Mode::OneByOne, &lake);
    p.parse_settings("format=auto");
    let fault = Some((0, CommitStep::Staged));
    assert!(feed_as(Mode::OneByOne, &mut p, &input, 0, fault).is_err());
    drop(p);
    let mut p = open(Mode::OneByOne, &lake);
    assert!(p.state().is_none());
    assert_eq!(p.parse_settings("format=combined"), "format=combined");
}
