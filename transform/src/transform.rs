//! The transform step as a plain function over bytes: one raw log line in, one JSON record out,
//! or the reason the line was rejected. The WASM entry point (`main.rs`) routes the two outcomes
//! to the output topic and the dead-letter topic; the host tests and the sink call it natively.

use crate::json::write_record;
use crate::parse::{parse_line_with, ParseError, ParseOptions};

/// The header that carries the rejection reason on a dead-lettered record.
pub const ERROR_HEADER: &str = "accesslake-error";

/// Parses one raw line (a trailing `\n` or `\r\n` is ignored) and writes its JSON record into
/// `out` (cleared first). On a parse error `out` is left empty and the error says why.
pub fn transform_value(
    line: &[u8],
    opts: &ParseOptions,
    out: &mut Vec<u8>,
) -> Result<(), ParseError> {
    out.clear();
    let record = parse_line_with(line, opts)?;
    write_record(&record, out);
    Ok(())
}
