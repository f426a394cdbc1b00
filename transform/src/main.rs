//! The Redpanda data transform (the `.wasm` entry point): each input record's value is one raw
//! access-log line; [`route`] decides where it goes. A parsed line goes to the first output topic
//! as its JSON record; a rejected one goes to the second (`REDPANDA_OUTPUT_TOPIC_1`) unchanged,
//! with the reason in the `accesslake-error` header. Keys and headers are carried over.
//! Env: `ACCESSLAKE_LOG_FORMAT` (auto|common|combined|vhost_combined, as the sink's `--format`;
//! the older name `ACCESSLAKE_FORMAT` is still read), `ACCESSLAKE_MEMORY_BUDGET` (bytes one
//! record may use) and `ACCESSLAKE_MAX_RECORD_BYTES` (the largest input record, set aside in
//! that budget). The callback never fails.

use accesslake_transform::{envelope_len, release_big, route, Route, TransformOptions};
use redpanda_transform_sdk::{on_record_written, BorrowedHeader, BorrowedRecord, WriteOptions};
use std::{cell::RefCell, convert::Infallible, env, process::exit};

fn main() {
    let fail = |msg: String| -> ! {
        eprintln!("accesslake-transform: {msg}");
        exit(2)
    };
    let Ok(dlq) = env::var("REDPANDA_OUTPUT_TOPIC_1") else {
        fail("needs a second output topic for rejected lines".into())
    };
    let mut opts = TransformOptions::default();
    let (name, format) = ["ACCESSLAKE_LOG_FORMAT", "ACCESSLAKE_FORMAT"]
        .into_iter()
        .find_map(|name| Some((name, env::var(name).ok()?)))
        .unwrap_or_default();
    opts.parse.format = format
        .parse()
        .unwrap_or_else(|e| fail(format!("{name}: {e}")));
    for (name, field) in [
        ("ACCESSLAKE_MEMORY_BUDGET", &mut opts.memory_budget),
        ("ACCESSLAKE_MAX_RECORD_BYTES", &mut opts.max_record_bytes),
    ] {
        if let Ok(v) = env::var(name) {
            *field = v.parse().unwrap_or_else(|e| fail(format!("{name}: {e}")));
        }
    }
    opts.check().unwrap_or_else(|e| fail(e));
    let json = RefCell::new(Vec::with_capacity(1024));
    on_record_written(|event, writer| -> Result<(), Infallible> {
        let record = &event.record;
        let (mut json, mut headers) = (json.borrow_mut(), record.headers().to_vec());
        let envelope = envelope_len(record.key(), headers.iter().map(|h| (h.key(), h.value())));
        let routed = route(
            record.value().unwrap_or_default(),
            envelope,
            &opts,
            &mut json,
        );
        let extra = routed.dead_letter_headers();
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| BorrowedHeader::new(k.as_bytes(), Some(v.as_bytes()))),
        );
        let written = match routed {
            Route::Parsed => writer.write(BorrowedRecord::new_with_headers(
                record.key(),
                Some(&json),
                headers,
            )),
            Route::DeadLetter { value, .. } => {
                let dead = BorrowedRecord::new_with_headers(
                    record.key(),
                    record.value().map(|_| value),
                    headers,
                );
                writer.write_with_options(dead, WriteOptions::to_topic(&dlq))
            }
        };
        release_big(&mut json);
        if let Err(error) = written {
            eprintln!("accesslake-transform: dropping record, write failed: {error}");
        }
        Ok(())
    });
}
