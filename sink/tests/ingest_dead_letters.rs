//! How `ingest`'s dead letters name their input: the file as given, and a file name whose bytes
//! are not UTF-8 with those bytes as `\xHH`, the convention the parser uses for a line's
//! bytes, so that two such names stay apart instead of both becoming U+FFFD.

mod common;

use common::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

#[test]
fn a_file_name_that_is_not_utf8_is_written_with_its_bytes_as_hex() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let log = dir.path().join(OsStr::from_bytes(b"access-\xff\xfe.log"));
    std::fs::write(
        &log,
        "81.2.69.142 - - [22/Jan/2019:03:56:14 +0330] \"GET /a HTTP/1.1\" 200 100\nnot a log line\n",
    )
    .unwrap();
    let out = run_ingest(&lake, &[&log], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let letters = dead_letters(&lake);
    assert_eq!(letters.len(), 1, "{letters:?}");
    let want = format!("{}/access-\\xFF\\xFE.log", dir.path().display());
    assert_eq!(letters[0]["file"], want.as_str());
    assert_eq!(letters[0]["line"], 2);
    assert_eq!(lake_provenance(&lake).len(), 1);
}
