//! Host tests of the compiled transform: the real `.wasm` (from `ACCESSLAKE_WASM`, else the
//! `wasm` profile build in this target dir, built on demand) runs in the Redpanda-ABI host
//! under Redpanda's default limits, and every output is compared with the native
//! `transform_value` on the same bytes.

use accesslake_tests::guest::{
    bisect, build_wasm, target_dir_of_current_exe, wasm_path, DEFAULT_MEMORY_LIMIT,
};
use accesslake_tests::{Guest, Header, Host, HostConfig, HostError, InputRecord, OutputRecord};
use accesslake_transform::{
    envelope_len, route, transform_value, Format, ParseOptions, Route, TransformOptions,
    DEFAULT_MEMORY_BUDGET, ERROR_HEADER,
};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn workspace() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn guest() -> &'static Guest {
    static GUEST: OnceLock<Guest> = OnceLock::new();
    GUEST.get_or_init(|| {
        let path = match std::env::var_os("ACCESSLAKE_WASM") {
            Some(p) => PathBuf::from(p),
            None => {
                let target = target_dir_of_current_exe().expect("cargo target dir");
                let path = wasm_path(&target);
                if path.is_file() {
                    path
                } else {
                    build_wasm(&workspace(), &target).expect("building the .wasm")
                }
            }
        };
        Guest::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

fn host(config: HostConfig) -> Host {
    Host::new(guest(), config).expect("transform starts")
}

/// What Redpanda must emit for `input`, derived from the native library's [`route`].
fn expected(input: &InputRecord, opts: &TransformOptions) -> OutputRecord {
    let mut json = Vec::new();
    let value = input.value.as_deref().unwrap_or_default();
    let envelope = envelope_len(
        input.key.as_deref(),
        input
            .headers
            .iter()
            .map(|h| (&h.key[..], h.value.as_deref())),
    );
    let routed = route(value, envelope, opts, &mut json);
    let mut headers = input.headers.clone();
    headers.extend(
        routed
            .dead_letter_headers()
            .into_iter()
            .map(|(k, v)| Header::new(k, Some(v))),
    );
    match routed {
        Route::Parsed => OutputRecord {
            topic_index: 0,
            topic: "requests.parsed".into(),
            key: input.key.clone(),
            value: Some(json.into()),
            headers,
        },
        Route::DeadLetter { value, .. } => OutputRecord {
            topic_index: 1,
            topic: "requests.dlq".into(),
            key: input.key.clone(),
            value: input.value.as_ref().map(|_| value.to_vec().into()),
            headers,
        },
    }
}

/// Runs `inputs` in batches of `batch` and checks each output against the native result.
fn assert_same_as_native(
    host: &mut Host,
    inputs: &[InputRecord],
    batch: usize,
    opts: &TransformOptions,
) -> [usize; 2] {
    let mut counts = [0, 0];
    for chunk in inputs.chunks(batch) {
        let outputs = host
            .process(chunk)
            .unwrap_or_else(|e| panic!("guest failed on {}: {e}", describe(chunk)));
        assert_eq!(outputs.len(), chunk.len(), "one output per input record");
        for (input, output) in chunk.iter().zip(&outputs) {
            let want = expected(input, opts);
            assert_eq!(
                output,
                &want,
                "input {:?}",
                input.value.as_deref().map(String::from_utf8_lossy)
            );
            counts[output.topic_index] += 1;
        }
    }
    counts
}

/// A short description of a batch for failure messages: its size, or its one value's length and start.
fn describe(chunk: &[InputRecord]) -> String {
    match chunk {
        [one] => match &one.value {
            None => "a null value".into(),
            Some(v) => format!(
                "a {}-byte value starting {:?}",
                v.len(),
                String::from_utf8_lossy(&v[..v.len().min(40)])
            ),
        },
        _ => format!("a batch of {} records", chunk.len()),
    }
}

fn log_records(name: &str) -> Vec<InputRecord> {
    let path = workspace().join("../shared/data").join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if lines.last() == Some(&&b""[..]) {
        lines.pop();
    }
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| InputRecord {
            key: Some(format!("{name}:{}", i + 1).into_bytes()),
            value: Some(line.to_vec()),
            headers: vec![
                Header::new("source", Some(name)),
                Header::new("empty", None::<&str>),
            ],
            offset: i as i64,
            timestamp_ms: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

#[test]
fn shared_logs_give_the_native_output() {
    for name in ["zanbil_first1000.log", "elastic_apache_logs.log"] {
        let records = log_records(name);
        assert!(records.len() >= 1000, "{name} has {} lines", records.len());
        let mut host = host(HostConfig::default());
        let [parsed, rejected] =
            assert_same_as_native(&mut host, &records, 100, &TransformOptions::default());
        eprintln!("{name}: {parsed} parsed, {rejected} to the DLQ");
        assert_eq!(parsed + rejected, records.len());
        host.close().expect("clean shutdown");
    }
}

#[test]
fn rejected_lines_go_unchanged_to_the_dlq_with_the_reason() {
    let mut host = host(HostConfig::default());
    let inputs = [
        InputRecord {
            key: None,
            headers: vec![Header::new("h", Some("v"))],
            ..InputRecord::with_value("not a log line")
        },
        InputRecord::with_value(&b"\xff\xfe garbage \x00"[..]),
    ];
    let outputs = host.process(&inputs).unwrap();
    for (input, output) in inputs.iter().zip(&outputs) {
        let mut native = Vec::new();
        let reason = transform_value(
            input.value.as_deref().unwrap(),
            &ParseOptions::default(),
            &mut native,
        )
        .expect_err("garbage is rejected")
        .to_string();
        assert_eq!(&*output.topic, "requests.dlq");
        assert_eq!(output.value.as_deref(), input.value.as_deref());
        assert_eq!(output.key, input.key);
        assert_eq!(output.header(ERROR_HEADER), Some(reason.as_bytes()));
        assert_eq!(&output.headers[..input.headers.len()], &input.headers[..]);
    }
}

#[test]
fn keys_and_headers_are_carried_over() {
    let line = log_records("zanbil_first1000.log").swap_remove(0);
    let variants = [
        InputRecord {
            key: None,
            headers: vec![],
            ..line.clone()
        },
        InputRecord {
            key: Some(vec![]),
            headers: vec![Header::new("", Some(""))],
            ..line.clone()
        },
        InputRecord {
            key: Some(vec![0, 159, 255]),
            headers: (0..20)
                .map(|i| Header::new(format!("k{i}"), Some(vec![i as u8; i])))
                .collect(),
            ..line.clone()
        },
    ];
    let mut host = host(HostConfig::default());
    let [parsed, _] = assert_same_as_native(&mut host, &variants, 3, &TransformOptions::default());
    assert_eq!(parsed, 3, "the first line of the zanbil log parses");
}

fn hostile_values() -> Vec<Option<Vec<u8>>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut values: Vec<Option<Vec<u8>>> = (0..50)
        .map(|i| {
            Some(
                (0..rng.random_range(0..(1usize << (i % 18))))
                    .map(|_| rng.random())
                    .collect(),
            )
        })
        .collect();
    let template = log_records("zanbil_first1000.log")
        .swap_remove(0)
        .value
        .unwrap();
    let long_path = |len: usize, fill: u8| {
        let at = template.windows(2).position(|w| w == b" /").unwrap() + 2;
        [&template[..at], &vec![fill; len][..], &template[at..]].concat()
    };
    values.extend([
        None,
        Some(vec![]),
        Some(b"\n".to_vec()),
        Some(vec![0; 4096]),
        Some(vec![b'"'; 1000]),
        Some(vec![b'"'; 128 * 1024]),
        Some(vec![b'['; 128 * 1024]),
        Some(long_path(48 * 1024, b'a')),
        Some(long_path(128 * 1024, b'a')),
        Some(long_path(128 * 1024, b'"')),
        Some(long_path(128 * 1024, b'\\')),
        Some(long_path(64 * 1024, 0xff)),
        Some(long_path(10, 0)),
        Some([&template[..], b"\r\n"].concat()),
        Some(
            template
                .iter()
                .map(|&b| if b == b' ' { b'\t' } else { b })
                .collect(),
        ),
    ]);
    values
}

#[test]
fn hostile_inputs_never_trap_the_guest() {
    let mut host = host(HostConfig::default());
    let inputs: Vec<InputRecord> = hostile_values()
        .into_iter()
        .map(|value| InputRecord {
            value,
            ..InputRecord::default()
        })
        .collect();
    // One record per batch, so a failure names its input; then all in one batch.
    let [parsed, rejected] =
        assert_same_as_native(&mut host, &inputs, 1, &TransformOptions::default());
    assert_same_as_native(
        &mut host,
        &inputs,
        inputs.len(),
        &TransformOptions::default(),
    );
    eprintln!(
        "hostile: {parsed} parsed, {rejected} rejected, memory {} KiB",
        host.memory_bytes() / 1024
    );
    assert!(
        parsed >= 3,
        "the long-path and CRLF variants of a good line parse"
    );
    host.close().expect("clean shutdown");
}

#[test]
fn the_format_comes_from_the_environment() {
    let records = log_records("zanbil_first1000.log");
    let mut opts = TransformOptions::default();
    opts.parse.format = Format::Common;
    // The sink's name for the setting, its `clf` alias, and the older name.
    for (name, value) in [
        ("ACCESSLAKE_LOG_FORMAT", "common"),
        ("ACCESSLAKE_LOG_FORMAT", "clf"),
        ("ACCESSLAKE_FORMAT", "common"),
    ] {
        let config = HostConfig {
            env: vec![(name.into(), value.into())],
            ..HostConfig::default()
        };
        let mut host = host(config);
        assert_same_as_native(&mut host, &records[..200], 50, &opts);
    }

    for name in ["ACCESSLAKE_LOG_FORMAT", "ACCESSLAKE_FORMAT"] {
        let bad = HostConfig {
            env: vec![(name.into(), "bogus".into())],
            ..HostConfig::default()
        };
        match Host::new(guest(), bad) {
            Err(HostError::Exited { code: 2, stderr }) => {
                assert!(stderr.contains(name), "{stderr}")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a bogus format must stop the transform"),
        }
    }
}

#[test]
fn a_single_output_topic_is_refused_at_startup() {
    let config = HostConfig {
        output_topics: vec!["requests.parsed".into()],
        ..HostConfig::default()
    };
    match Host::new(guest(), config) {
        Err(HostError::Exited { code: 2, stderr }) => {
            assert!(stderr.contains("second output topic"), "{stderr}")
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("the transform needs a DLQ topic"),
    }
}

#[test]
fn a_write_to_an_unknown_topic_is_refused_and_reported() {
    // A user variable wins over Redpanda's own (environ is built with emplace), so the guest's
    // DLQ becomes a topic that is not an output: Redpanda answers -3 (INVALID_WRITE).
    let env = vec![("REDPANDA_OUTPUT_TOPIC_1".into(), "not-an-output".into())];
    let mut host = host(HostConfig {
        env,
        ..HostConfig::default()
    });
    let outputs = host.process(&[InputRecord::with_value("garbage")]).unwrap();
    assert!(outputs.is_empty());
    let stderr = String::from_utf8_lossy(host.stderr());
    assert!(stderr.contains("errno: -3"), "{stderr}");
    let good = log_records("zanbil_first1000.log").swap_remove(0);
    assert_eq!(
        host.process(&[good]).unwrap().len(),
        1,
        "the guest keeps running"
    );
}

#[test]
fn a_parsed_record_the_broker_refuses_is_dead_lettered_with_the_reason() {
    let mut refusing = host(HostConfig {
        refused_outputs: vec![0],
        ..HostConfig::default()
    });
    let good = log_records("zanbil_first1000.log").swap_remove(0);
    let outputs = refusing.process(std::slice::from_ref(&good)).unwrap();
    assert_eq!(outputs.len(), 1);
    let dead = &outputs[0];
    assert_eq!(dead.topic_index, 1, "to the dead-letter topic");
    assert_eq!(
        dead.value.as_deref(),
        good.value.as_deref(),
        "the line unchanged"
    );
    let reason = dead
        .headers
        .iter()
        .find(|h| h.key == b"accesslake-error".as_slice())
        .and_then(|h| h.value.as_deref())
        .expect("the reason header");
    let reason = String::from_utf8_lossy(reason);
    assert!(reason.contains("the parsed record was refused"), "{reason}");
    // Nothing takes the write when both topics refuse: logged, and the guest keeps running.
    let mut nowhere = host(HostConfig {
        refused_outputs: vec![0, 1],
        ..HostConfig::default()
    });
    let key = good.key.as_deref().map_or(0, <[u8]>::len);
    let value = good.value.as_deref().map_or(0, <[u8]>::len);
    let at = good.timestamp_ms;
    assert!(nowhere.process(&[good]).unwrap().is_empty());
    let stderr = String::from_utf8_lossy(nowhere.stderr());
    assert!(
        stderr.contains(&format!(
            "dropping the record of timestamp {at} ms ({key} key bytes, {value} value bytes): \
             write failed"
        )),
        "{stderr}"
    );
}

#[test]
fn the_linear_memory_starts_small_and_the_limit_holds() {
    let initial = guest().initial_memory_bytes();
    eprintln!("initial linear memory: {} KiB", initial / 1024);
    assert!(
        initial < 1024 * 1024,
        "the 1 MiB default shadow stack is gone: {initial} bytes"
    );

    // Too little memory to even instantiate: an error, not a hang.
    let tiny = HostConfig {
        memory_limit: (initial as usize).saturating_sub(65536),
        ..HostConfig::default()
    };
    assert!(Host::new(guest(), tiny).is_err());

    // A line far beyond what 2 MiB can hold makes the guest fail; the host reports it.
    let mut host = host(HostConfig::default());
    let huge = InputRecord::with_value(vec![b'a'; 4 * DEFAULT_MEMORY_LIMIT]);
    match host.process(&[huge]) {
        Err(HostError::Trap { .. }) => {}
        other => panic!("expected a trap, got {other:?}"),
    }
    assert!(matches!(
        host.process(&[InputRecord::with_value("x")]),
        Err(HostError::Stopped)
    ));
}

#[test]
fn longest_line_at_the_default_memory_limit() {
    let template = log_records("zanbil_first1000.log")
        .swap_remove(0)
        .value
        .unwrap();
    let at = template.windows(2).position(|w| w == b" /").unwrap() + 2;
    let line = |len: usize| {
        [
            &template[..at],
            &vec![b'a'; len - template.len()][..],
            &template[at..],
        ]
        .concat()
    };
    // Some(parsed?) when the guest handled the line, None when it trapped.
    let run = |len: usize| {
        let mut host = host(HostConfig::default());
        let input = InputRecord::with_value(line(len));
        match host.process(std::slice::from_ref(&input)) {
            Ok(out) => {
                assert_eq!(out, vec![expected(&input, &TransformOptions::default())]);
                Some(out[0].topic_index == 0)
            }
            Err(e @ HostError::Trap { .. }) => {
                let e = e.to_string();
                eprintln!(
                    "{len}-byte line: {}",
                    e.lines().take(12).collect::<Vec<_>>().join("\n")
                );
                None
            }
            Err(e) => panic!("{e}"),
        }
    };
    let search = |ok: usize, bad: usize, good: &dyn Fn(usize) -> bool| {
        assert!(good(ok) && !good(bad), "{ok}..{bad}");
        bisect(ok, bad, |n| Ok::<_, std::convert::Infallible>(good(n))).unwrap()
    };
    // Lines up to 128 KiB never trap; those whose JSON fits beside the 1 MiB set aside for the
    // input parse (this path is copied into the JSON twice, as `request` and `path`).
    assert!(run(128 * 1024).is_some(), "a 128 KiB line must not trap");
    assert_eq!(run(64 * 1024), Some(true), "a 64 KiB line must parse");
    let parsed = search(64 * 1024, DEFAULT_MEMORY_BUDGET, &|n| run(n) == Some(true));
    let handled = search(parsed, 2 * DEFAULT_MEMORY_LIMIT, &|n| run(n).is_some());
    eprintln!(
        "at 2 MiB: lines up to {} KiB parse; up to {} KiB go to the DLQ (cut to the budget); \
         longer ones trap",
        parsed / 1024,
        handled / 1024
    );
    // Redpanda's default batch limit (kafka_batch_max_bytes) is 1 MiB: every line it accepts
    // must be handled without a trap.
    assert!(handled >= 1024 * 1024 - 1024, "{handled}");
}

/// Large records one after another, in one batch and in consecutive ones, each compared with the
/// native result: the SDK keeps its input buffer at the largest record seen (sized to a batch's
/// largest before its first record is handed over) and its output buffer at the largest payload,
/// which the budget's input set aside covers. A valid line of 190 KB then a 400 KB unparseable
/// one in the next batch trapped at the 2 MiB default, as did a 600 KB one in the same batch as
/// it. Not covered, and not testable as passing: a record of over about 900 KB in a batch after
/// one of 400 KB or more, whose input buffer the SDK grows by copying (README, "Known traps").
#[test]
fn large_records_one_after_another_do_not_trap() {
    let prefix: &[u8] = b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET /";
    let suffix: &[u8] = b" HTTP/1.1\" 200 5 \"-\" \"curl\"";
    let with = |fill: u8, len: usize| {
        [
            prefix,
            &vec![fill; len - prefix.len() - suffix.len()][..],
            suffix,
        ]
        .concat()
    };
    type Make<'a> = &'a dyn Fn(usize) -> Vec<u8>;
    let kinds: [(&str, Make); 3] = [
        ("valid", &|n| with(b'a', n)),
        ("unparseable", &|n| vec![b'x'; n]),
        ("invalid UTF-8", &|n| with(0xFF, n)),
    ];
    // Up to Redpanda's default 1 MiB batch, less the batch's own framing.
    let sizes = [64_000, 200_000, 400_000, 1_048_000];
    let opts = TransformOptions::default();
    let mut parsed = 0;
    for (a, b) in sizes.iter().flat_map(|&a| sizes.map(|b| (a, b))) {
        if a >= 400_000 && b > a {
            continue;
        }
        for (ka, fa) in kinds {
            for (kb, fb) in kinds {
                let records = [fa(a), fb(b), fa(a)].map(InputRecord::with_value);
                for batch in [1, 3] {
                    let mut host = host(HostConfig::default());
                    for chunk in records.chunks(batch) {
                        let out = host.process(chunk).unwrap_or_else(|e| {
                            panic!("{ka} {a} B then {kb} {b} B, batches of {batch}: {e}")
                        });
                        for (input, output) in chunk.iter().zip(&out) {
                            assert_eq!(output, &expected(input, &opts));
                            parsed += usize::from(output.topic_index == 0);
                        }
                    }
                }
            }
        }
    }
    assert!(parsed > 0, "some of the valid lines parse");
}

/// Lines the parser has to copy (long runs of invalid UTF-8 or of escaped backslashes) are
/// dead-lettered unparsed when the copies could break the budget, instead of trapping: these
/// trapped at the 2 MiB default before.
#[test]
fn long_lines_the_parser_copies_do_not_trap() {
    let prefix: &[u8] = b"1.2.3.4 - - [22/Jan/2019:03:56:14 +0330] \"GET /";
    let suffix: &[u8] = b" HTTP/1.1\" 200 5 \"-\" \"curl\"";
    let cases: Vec<Vec<u8>> = vec![
        vec![0xFF; 260_000],
        [prefix, &vec![0xFF; 130_000][..], suffix].concat(),
        [prefix, &br"\\".repeat(100_000)[..], suffix].concat(),
        [prefix, &br"\\".repeat(475_000)[..], suffix].concat(),
    ];
    for value in cases {
        let len = value.len();
        let mut host = host(HostConfig::default());
        let input = InputRecord::with_value(value);
        let out = host
            .process(std::slice::from_ref(&input))
            .unwrap_or_else(|e| panic!("{len}-byte line: {e}"));
        assert_eq!(out, vec![expected(&input, &TransformOptions::default())]);
        assert_eq!(out[0].topic_index, 1, "{len}-byte line: dead-lettered");
    }
}
