//! The Redpanda data transform (the `.wasm` entry point): each input record's value is one raw
//! access-log line; a parsed line goes to the first output topic as its JSON record, a rejected
//! line goes unchanged to the second output topic (`REDPANDA_OUTPUT_TOPIC_1`) with the reason in
//! the `accesslake-error` header. Keys and headers are carried over. `ACCESSLAKE_FORMAT`
//! (auto|common|combined|vhost_combined) picks the log layout. The callback never fails.

use accesslake_transform::{transform_value, Format, ParseOptions, ERROR_HEADER};
use redpanda_transform_sdk::{on_record_written, BorrowedHeader, BorrowedRecord, WriteOptions};
use std::{cell::RefCell, convert::Infallible, env, process::exit};

fn main() {
    let Ok(dlq) = env::var("REDPANDA_OUTPUT_TOPIC_1") else {
        eprintln!("accesslake-transform: needs a second output topic for rejected lines");
        exit(2);
    };
    let format = env::var("ACCESSLAKE_FORMAT").unwrap_or_default();
    let opts = match format.parse::<Format>() {
        Ok(format) => ParseOptions { format },
        Err(e) => {
            eprintln!("accesslake-transform: ACCESSLAKE_FORMAT: {e}");
            exit(2);
        }
    };
    let json = RefCell::new(Vec::with_capacity(1024));
    on_record_written(|event, writer| -> Result<(), Infallible> {
        let record = &event.record;
        let mut json = json.borrow_mut();
        let mut headers = record.headers().to_vec();
        let written = match transform_value(record.value().unwrap_or_default(), &opts, &mut json) {
            Ok(()) => writer.write(BorrowedRecord::new_with_headers(
                record.key(),
                Some(&json[..]),
                headers,
            )),
            Err(error) => {
                let reason = error.to_string();
                headers.push(BorrowedHeader::new(
                    ERROR_HEADER.as_bytes(),
                    Some(reason.as_bytes()),
                ));
                let unchanged =
                    BorrowedRecord::new_with_headers(record.key(), record.value(), headers);
                writer.write_with_options(unchanged, WriteOptions::to_topic(&dlq))
            }
        };
        if let Err(error) = written {
            eprintln!("accesslake-transform: dropping record, write failed: {error}");
        }
        Ok(())
    });
}
