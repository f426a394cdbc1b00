//! `accesslake parse`: every input line gives exactly one output (a record on stdout or a
//! rejection on stderr), in order, from a file or stdin; I/O errors exit non-zero.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn check_log(name: &str) {
    let path = shared_log(name);
    let out = accesslake(&["parse", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let rejected: Vec<serde_json::Value> = out
        .stderr
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("stderr lines are JSON"))
        .collect();
    assert_eq!(records.len() + rejected.len(), count_lines(&path), "{name}");
    for r in &records {
        accesslake_transform::Record::from_json(r).expect("stdout lines are records");
    }
    let content = std::fs::read(&path).unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&content)
        .map(|s| s.lines().collect())
        .unwrap_or_default();
    for r in &rejected {
        let n = r["line"].as_u64().unwrap() as usize;
        assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()));
        if !lines.is_empty() {
            assert_eq!(r["raw"].as_str().unwrap(), lines[n - 1]);
        }
    }
}

#[test]
fn parses_both_shared_logs() {
    check_log("zanbil_first1000.log");
    check_log("elastic_apache_logs.log");
}

#[test]
fn reads_stdin_and_reports_bad_lines_in_order() {
    let good = std::fs::read_to_string(shared_log("elastic_apache_logs.log")).unwrap();
    let good: Vec<&str> = good.lines().take(3).collect();
    let mut input = Vec::new();
    input.extend_from_slice(format!("{}\n", good[0]).as_bytes());
    input.extend_from_slice(b"this is not a log line\n");
    input.extend_from_slice(format!("{}\r\n", good[1]).as_bytes());
    input.extend_from_slice(b"bad \xff\xfe bytes\n");
    input.extend_from_slice(good[2].as_bytes()); // no final newline
    let mut child = Command::new(env!("CARGO_BIN_EXE_accesslake"))
        .arg("parse")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let recs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(recs.len(), 3);
    // In input order: the first fields of each good line's client address.
    for (r, line) in recs.iter().zip(&good) {
        assert_eq!(
            r["client_ip"].as_str().unwrap(),
            line.split(' ').next().unwrap()
        );
    }
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errs: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(errs.len(), 2, "{stderr}");
    assert_eq!(errs[0]["line"], 2);
    assert_eq!(errs[0]["raw"], "this is not a log line");
    assert_eq!(errs[1]["line"], 4);
    assert_eq!(errs[1]["raw"], "bad \\xFF\\xFE bytes");
}

#[test]
fn missing_file_is_an_error() {
    let out = accesslake(&["parse", "/nonexistent/access.log"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/access.log"));
}

#[test]
fn format_names_are_the_transforms() {
    // `vhost_combined` and `clf`, as the transform's setting spells them, name the same layouts
    // as `vhost-combined` and `common`; an unknown name is refused.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("a.log");
    std::fs::write(
        &log,
        "h:80 1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\n\
         1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 5\n",
    )
    .unwrap();
    let run = |format: &str| {
        let out = accesslake(&["parse", "--format", format, log.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap().lines().count(),
            String::from_utf8(out.stderr).unwrap().lines().count(),
        )
    };
    assert_eq!(run("vhost_combined"), (1, 1));
    assert_eq!(run("vhost_combined"), run("vhost-combined"));
    assert_eq!(run("clf"), (1, 1));
    assert_eq!(run("clf"), run("common"));
    let out = accesslake(&["parse", "--format", "bogus", log.to_str().unwrap()]);
    assert!(!out.status.success());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn a_zero_padded_gzip_file_parses_and_a_damaged_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let plain = shared_log("zanbil_first1000.log");
    let gz = gzip(&std::fs::read(&plain).unwrap());
    // `{ cat e.gz; head -c 100 /dev/zero; } > pad.gz`, as tape and block writers leave it.
    let padded = dir.path().join("pad.gz");
    std::fs::write(&padded, [gz.clone(), vec![0; 100]].concat()).unwrap();
    let (want, got) = (
        accesslake(&["parse", plain.to_str().unwrap()]),
        accesslake(&["parse", padded.to_str().unwrap()]),
    );
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert!(got.stdout == want.stdout && got.stderr == want.stderr);

    // Cut short, or with other bytes after the data: an error that names the file.
    let cut = dir.path().join("cut.gz");
    std::fs::write(&cut, &gz[..gz.len() / 2]).unwrap();
    let junk = dir.path().join("junk.gz");
    std::fs::write(&junk, [gz.clone(), b"junk".to_vec()].concat()).unwrap();
    for bad in [&cut, &junk] {
        let out = accesslake(&["parse", bad.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or_default();
        let named = format!("accesslake: error: {}: ", bad.display());
        assert!(last.starts_with(&named), "{err}");
    }
}
