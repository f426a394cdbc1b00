//! accesslake-transform: the access-log parser, the record schema (v1) and its JSON encoding,
//! and [`transform_value`], the plain function over bytes that the Redpanda WASM transform
//! (`main.rs`) and the sink's `ingest`/`parse` commands (natively) both call.
//!
//! The library has no SDK types in its API: it runs unchanged in the broker and on the host.

pub mod format;
pub mod json;
pub mod parse;
pub mod request;
pub mod schema;
pub mod text;
pub mod timestamp;
pub mod transform;

pub use json::{json_len, write_record, Escape};
pub use parse::{
    parse_for_json, parse_line, parse_line_with, ErrorKind, Format, ParseError, ParseOptions,
};
pub use schema::{Field, Kind, Record, Timestamp, UtcOffset, Value, SCHEMA_VERSION};
pub use transform::{
    drop_notice, envelope_len, release_big, route, transform_value, Route, TransformConfig,
    TransformOptions, DEFAULT_MAX_RECORD_BYTES, DEFAULT_MEMORY_BUDGET, ERROR_HEADER,
    TRUNCATED_HEADER,
};
