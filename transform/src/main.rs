//! The Redpanda data transform (the `.wasm` entry point): each input record's value is one raw
//! access-log line; [`route`] decides where it goes. A parsed line goes to the first output topic
//! as its JSON record; a rejected one goes to the second (`REDPANDA_OUTPUT_TOPIC_1`) unchanged,
//! with the reason in the `accesslake-error` header. Keys and headers are carried over. The
//! environment is read by [`TransformConfig::from_env`]. The callback never fails: a parsed
//! record the broker refuses is dead-lettered with the reason, and a write nothing takes is
//! logged (returning an error would make the SDK panic and Redpanda restart it in a loop).

use accesslake_transform::{
    drop_notice, envelope_len, release_big, route, Route, TransformConfig, ERROR_HEADER,
};
use redpanda_transform_sdk::{
    on_record_written, BorrowedHeader, BorrowedRecord, RecordWriter, WriteOptions, WrittenRecord,
};
use std::{cell::RefCell, convert::Infallible, env, process::exit};

fn main() {
    let config = TransformConfig::from_env(|name| env::var(name).ok()).unwrap_or_else(|e| {
        eprintln!("accesslake-transform: {e}");
        exit(2)
    });
    let (opts, dlq) = (config.options, config.dead_letter_topic);
    let json = RefCell::new(Vec::with_capacity(1024));
    on_record_written(|event, writer| -> Result<(), Infallible> {
        let (record, mut json) = (&event.record, json.borrow_mut());
        let value = record.value().unwrap_or_default();
        let header_pairs = record.headers().iter().map(|h| (h.key(), h.value()));
        let routed = route(
            value,
            envelope_len(record.key(), header_pairs),
            &opts,
            &mut json,
        );
        let to_dlq = |writer: &mut RecordWriter, extra: &[(&str, String)]| {
            let value = match &routed {
                Route::DeadLetter { value, .. } => record.value().map(|_| *value),
                Route::Parsed => record.value(),
            };
            let dead =
                BorrowedRecord::new_with_headers(record.key(), value, headers(record, extra));
            writer.write_with_options(dead, WriteOptions::to_topic(&dlq))
        };
        let written = match &routed {
            Route::Parsed => writer
                .write(BorrowedRecord::new_with_headers(
                    record.key(),
                    Some(&json),
                    headers(record, &[]),
                ))
                .or_else(|e| {
                    to_dlq(
                        writer,
                        &[(ERROR_HEADER, format!("the parsed record was refused: {e}"))],
                    )
                }),
            Route::DeadLetter { .. } => to_dlq(writer, &routed.dead_letter_headers()),
        };
        release_big(&mut json);
        if let Err(error) = written {
            eprintln!(
                "{}",
                drop_notice(record.timestamp(), record.key(), record.value(), &error)
            );
        }
        Ok(())
    });
}

/// The input record's headers, then `extra`.
fn headers<'a>(record: &'a WrittenRecord, extra: &'a [(&str, String)]) -> Vec<BorrowedHeader<'a>> {
    let extra = extra
        .iter()
        .map(|(k, v)| BorrowedHeader::new(k.as_bytes(), Some(v.as_bytes())));
    record.headers().iter().cloned().chain(extra).collect()
}
