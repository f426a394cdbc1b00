//! A log written to while `ingest` reads it. A file left alone for a while has a finished last
//! line even without a newline; but if the writer wakes and appends half a line while the file
//! is being read, that half is a live line caught mid-write, held back for a later run like
//! any unfinished line of a file changed lately, not committed in half. The test makes the
//! timing certain: it stops the process (`SIGSTOP`) once it has the file open and before it
//! has read to the end, appends, and lets it go on.

mod common;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

/// The `user_agent` of the row of line `line`, if the lake has it.
fn agent_of_line(lake: &Path, line: i64) -> Option<String> {
    for f in parquet_files(lake) {
        for b in read_parquet(&f) {
            let offsets = b.column_by_name("src_offset")?.as_primitive::<Int64Type>();
            let agents = b.column_by_name("user_agent")?.as_string::<i32>();
            if let Some(i) = offsets.values().iter().position(|&o| o == line) {
                return Some(agents.value(i).to_string());
            }
        }
    }
    None
}

#[test]
fn half_a_line_appended_during_the_read_is_held_back_not_committed_in_half() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join("quiet-then-live.log");
    // Twenty copies of the sample log (47 MB): long enough to catch the process mid-read.
    let sample = std::fs::read(shared_log("elastic_apache_logs.log")).unwrap();
    let mut f = std::fs::File::create(&log).unwrap();
    for _ in 0..20 {
        f.write_all(&sample).unwrap();
    }
    f.set_modified(SystemTime::now() - Duration::from_secs(300))
        .unwrap();
    drop(f);
    let lines = count_lines(&log) as i64;
    let size = std::fs::metadata(&log).unwrap().len();

    let child = ingest_command(&lake, &[&log], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pos = loop {
        if let Some(pos) = read_position(pid, &log) {
            // SAFETY: plain signals to the child this test started and has not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
            break read_position(pid, &log).unwrap_or(pos);
        }
        assert!(Instant::now() < deadline, "ingest never opened the log");
        std::thread::sleep(Duration::from_micros(200));
    };
    let caught = pos < size;
    if caught {
        let head = "9.9.9.9 - - [25/Jan/2019:00:00:00 +0000] \"GET /partial HTTP/1.1\" 200 5 \
                    \"-\" \"Mozilla/5.0 (Wind";
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(head.as_bytes()));
        if let Err(e) = appended {
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("appending to the log: {e}");
        }
    }
    // The process goes on in every case (a failed assertion must not leave it stopped).
    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
    let out = child.wait_with_output().unwrap();
    assert!(
        caught,
        "stopped before the end of the file ({pos} of {size} bytes read)"
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        summary.contains(&format!("{lines} rows written"))
            && summary.contains("1 unfinished last line(s) held back"),
        "{summary}"
    );
    assert_eq!(lake_provenance(&lake).len() as i64, lines);
    assert_eq!(agent_of_line(&lake, lines + 1), None);

    // The writer finishes the line: the next run adds it whole.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"ows NT 10.0)\"\n")
        .unwrap();
    let out = run_ingest(&lake, &[&log], &[]);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.contains(" 1 rows written"), "{summary}");
    assert!(!summary.contains("unfinished"), "{summary}");
    assert_eq!(
        agent_of_line(&lake, lines + 1).as_deref(),
        Some("Mozilla/5.0 (Windows NT 10.0)")
    );
    let mut prov = lake_provenance(&lake);
    prov.sort_unstable();
    prov.dedup();
    assert_eq!(prov.len() as i64, lines + 1);
    assert!(dead_letters(&lake).is_empty());
}
