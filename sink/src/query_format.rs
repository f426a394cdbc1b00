//! Query results as text: an aligned, terminal-safe table; exact RFC 4180 CSV; exact JSON.
//! Used by `accesslake query` ([`crate::query`]) on the Arrow batches DuckDB returns.
//!
//! Exactness: integers and decimals keep their digits, floats print the shortest text that
//! parses back to the same value, UTC instants print as RFC 3339 with `Z`; in CSV, NULL is an
//! empty field and the empty string is `""`; in JSON, NULL is `null`, lists and structs nest, a
//! map is an object and a union its member. DuckDB's infinite dates and timestamps print as
//! `infinity`; a value that cannot be printed is an error, never text in its place. Columns that
//! Arrow cannot carry exactly reach this module as DuckDB's text ([`crate::query_render`]).
//! Only the table bounds rows and cell widths and escapes control characters (it is for
//! people); CSV and JSON carry every value unchanged.

use crate::config::QueryFormat;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use std::io::{self, Write};

/// A result written as DuckDB streams it: [`ResultWriter::begin`] with the schema,
/// [`ResultWriter::batch`] for each chunk, [`ResultWriter::end`]. CSV and JSON rows go out chunk
/// by chunk; a table keeps only its first `max_rows` rows (0: all) and counts the others; an
/// EXPLAIN plan is kept whole (a few rows). So memory stays bounded whatever the result's size
/// (`SELECT * FROM logs` on a lake of millions of rows held it all, gigabytes, before).
pub struct ResultWriter<W: Write> {
    out: W,
    mode: Mode,
    schema: arrow::datatypes::SchemaRef,
    max_rows: usize,
    /// The table's or plan's rows kept, and the rows seen in all.
    kept: Vec<RecordBatch>,
    kept_rows: usize,
    total: usize,
    /// JSON: the keys, and whether no object was written yet.
    keys: Vec<String>,
    /// Per column: text that is an integer's digits ([`crate::query_render::DIGITS`]).
    digits: Vec<bool>,
    first: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Table,
    Plan,
    Csv,
    Json,
}

impl<W: Write> ResultWriter<W> {
    /// Starts the output: the CSV header, or the JSON array's opening.
    pub fn begin(
        mut out: W,
        format: QueryFormat,
        schema: arrow::datatypes::SchemaRef,
        max_rows: usize,
    ) -> io::Result<ResultWriter<W>> {
        let explain = schema.fields().len() == 2
            && schema.field(0).name() == "explain_key"
            && schema.field(1).name() == "explain_value";
        let mode = match format {
            QueryFormat::Table if explain => Mode::Plan,
            QueryFormat::Table => Mode::Table,
            QueryFormat::Csv => Mode::Csv,
            QueryFormat::Json => Mode::Json,
        };
        let mut keys = Vec::new();
        let digits = schema.fields().iter().map(|f| is_digits(f)).collect();
        match mode {
            Mode::Csv => csv_header(&mut out, &schema)?,
            Mode::Json => {
                keys = unique_names(schema.fields().iter().map(|f| f.name().as_str()))
                    .iter()
                    .map(|k| serde_json::to_string(k).map_err(io::Error::other))
                    .collect::<io::Result<_>>()?;
                write!(out, "[")?;
            }
            Mode::Table | Mode::Plan => {}
        }
        Ok(ResultWriter {
            out,
            mode,
            schema,
            max_rows,
            kept: Vec::new(),
            kept_rows: 0,
            total: 0,
            keys,
            digits,
            first: true,
        })
    }

    /// One chunk of the result.
    pub fn batch(&mut self, batch: RecordBatch) -> io::Result<()> {
        self.total += batch.num_rows();
        match self.mode {
            Mode::Csv => csv_rows(&mut self.out, &batch),
            Mode::Json => json_rows(
                &mut self.out,
                &self.keys,
                &self.digits,
                &batch,
                &mut self.first,
            ),
            Mode::Plan => {
                self.kept.push(batch);
                Ok(())
            }
            Mode::Table => {
                let room = match self.max_rows {
                    0 => batch.num_rows(),
                    max => max.saturating_sub(self.kept_rows).min(batch.num_rows()),
                };
                if room > 0 {
                    self.kept_rows += room;
                    self.kept.push(batch.slice(0, room));
                }
                Ok(())
            }
        }
    }

    /// Ends the output (the table is printed now, with its row count), and hands back the
    /// writer.
    pub fn end(mut self) -> io::Result<W> {
        match self.mode {
            Mode::Table => write_table(&mut self.out, &self.schema, &self.kept, self.total)?,
            Mode::Plan => write_plan(&mut self.out, &self.kept)?,
            Mode::Json => writeln!(self.out, "{}]", if self.first { "" } else { "\n" })?,
            Mode::Csv => {}
        }
        Ok(self.out)
    }
}

/// A column's values as text (`None` for null): UTC instants as RFC 3339 with `Z`.
fn column_text(array: &ArrayRef) -> io::Result<Vec<Option<String>>> {
    let n = array.len();
    if let DataType::Timestamp(unit, Some(_)) = array.data_type() {
        let micros = |v: i64| match unit {
            TimeUnit::Second => v.saturating_mul(1_000_000),
            TimeUnit::Millisecond => v.saturating_mul(1_000),
            TimeUnit::Microsecond => v,
            TimeUnit::Nanosecond => v.div_euclid(1_000),
        };
        let values = arrow::compute::cast(array, &DataType::Int64).map_err(io::Error::other)?;
        let values = values.as_primitive::<arrow::datatypes::Int64Type>();
        return Ok((0..n)
            .map(|i| {
                (!values.is_null(i)).then(|| match special_value(array, i) {
                    Some(s) => s.to_string(),
                    None => accesslake_transform::Timestamp(micros(values.value(i))).to_rfc3339(),
                })
            })
            .collect());
    }
    // A NULL inside a list or struct is written as `NULL`, as DuckDB writes it. A value Arrow
    // cannot print (a date past chrono's range) is an error, never its message as the value.
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_display_error(false);
    let fmt = ArrayFormatter::try_new(array.as_ref(), &options).map_err(io::Error::other)?;
    (0..n)
        .map(|i| {
            if is_null(array.as_ref(), i) {
                return Ok(None);
            }
            if let Some(s) = special_value(array, i) {
                return Ok(Some(s.to_string()));
            }
            let mut s = String::new();
            std::fmt::Write::write_fmt(&mut s, format_args!("{}", fmt.value(i))).map_err(|_| {
                io::Error::other(format!(
                    "a {} value that cannot be printed (out of the range dates and times are \
                     printed in)",
                    array.data_type()
                ))
            })?;
            Ok(Some(s))
        })
        .collect()
}

/// DuckDB's infinite dates and timestamps (the largest value, and its negation) and its
/// `24:00:00`, which Arrow carries as they are but cannot print: DuckDB's text for them.
fn special_value(array: &ArrayRef, i: usize) -> Option<&'static str> {
    use arrow::datatypes::{Date32Type, Time64MicrosecondType, Time64NanosecondType};
    let infinity = |positive: bool| Some(if positive { "infinity" } else { "-infinity" });
    match array.data_type() {
        DataType::Date32 => match array.as_primitive::<Date32Type>().value(i) {
            v if v == i32::MAX || v == -i32::MAX => infinity(v > 0),
            _ => None,
        },
        DataType::Timestamp(unit, _) => {
            use arrow::datatypes::{
                TimestampMicrosecondType as Us, TimestampMillisecondType as Ms,
                TimestampNanosecondType as Ns, TimestampSecondType as S,
            };
            let v = match unit {
                TimeUnit::Second => array.as_primitive::<S>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<Ms>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<Us>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<Ns>().value(i),
            };
            (v == i64::MAX || v == -i64::MAX)
                .then(|| infinity(v > 0))
                .flatten()
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            (array.as_primitive::<Time64MicrosecondType>().value(i) == 86_400_000_000)
                .then_some("24:00:00")
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            (array.as_primitive::<Time64NanosecondType>().value(i) == 86_400_000_000_000)
                .then_some("24:00:00")
        }
        _ => None,
    }
}

/// Whether value `i` is NULL. An untyped `NULL` (`SELECT NULL`) arrives as Arrow's `Null` type,
/// which has no validity bitmap, so `Array::is_null` says it is not.
fn is_null(array: &dyn Array, i: usize) -> bool {
    array.data_type() == &DataType::Null || array.is_null(i)
}

/// Whether a column is numbers: Arrow's numeric types, and integers DuckDB gave as text.
fn is_numeric(f: &arrow::datatypes::Field) -> bool {
    f.data_type().is_numeric() || is_digits(f)
}

/// Whether a column is an integer's digits as text ([`crate::query_render::DIGITS`]).
fn is_digits(f: &arrow::datatypes::Field) -> bool {
    f.metadata().contains_key(crate::query_render::DIGITS)
}

/// Makes text safe for a terminal: control characters, bidirectional controls (overrides,
/// isolates and marks), line and paragraph separators, and invisible characters that are not
/// part of writing a script (zero-width space, word joiner, byte-order mark, soft hyphen, tag
/// characters, Hangul fillers, interlinear annotation) become visible escapes. The zero-width
/// joiner and non-joiner stay: scripts and emoji use them.
pub fn terminal_safe(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\t' => vec!['\\', 't'],
            '\r' => vec!['\\', 'r'],
            c if c.is_control()
                || matches!(
                    c,
                    '\u{202a}'..='\u{202e}'
                        | '\u{2066}'..='\u{2069}'
                        | '\u{200e}'
                        | '\u{200f}'
                        | '\u{061c}'
                        | '\u{2028}'
                        | '\u{2029}'
                        | '\u{200b}'
                        | '\u{2060}'..='\u{2064}'
                        | '\u{feff}'
                        | '\u{00ad}'
                        | '\u{180e}'
                        | '\u{034f}'
                        | '\u{115f}'
                        | '\u{1160}'
                        | '\u{3164}'
                        | '\u{ffa0}'
                        | '\u{206a}'..='\u{206f}'
                        | '\u{fff9}'..='\u{fffb}'
                        | '\u{e0000}'..='\u{e007f}'
                ) =>
            {
                format!("\\u{{{:x}}}", c as u32).chars().collect()
            }
            c => vec![c],
        })
        .collect()
}

/// Widest a table cell is printed (longer cells end in `…`; CSV and JSON are never cut).
pub const MAX_CELL: usize = 60;

/// The columns `s` takes on a terminal (a CJK character two, a combining mark none).
pub fn display_width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` terminal columns, the cut marked with `…`.
pub fn fit(s: &str, max: usize) -> String {
    if display_width(s) <= max {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` padded with spaces to `width` terminal columns, on the right (or on the left when
/// `right_aligned`).
pub fn pad(s: &str, width: usize, right_aligned: bool) -> String {
    let spaces = " ".repeat(width.saturating_sub(display_width(s)));
    match right_aligned {
        true => format!("{spaces}{s}"),
        false => format!("{s}{spaces}"),
    }
}

/// The table of the rows kept (`batches`), out of `total`.
fn write_table(
    out: &mut impl Write,
    schema: &Schema,
    batches: &[RecordBatch],
    total: usize,
) -> io::Result<()> {
    let shown: usize = batches.iter().map(|b| b.num_rows()).sum();
    let ncol = schema.fields().len();
    let mut cells: Vec<Vec<String>> = vec![Vec::with_capacity(shown); ncol];
    let mut left = shown;
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        for (c, col) in batch.columns().iter().enumerate() {
            let text = column_text(&col.slice(0, take))?;
            cells[c].extend(text.into_iter().map(|v| match v {
                None => "NULL".to_string(),
                Some(s) => fit(&terminal_safe(&s), MAX_CELL),
            }));
        }
        left -= take;
    }
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| terminal_safe(f.name()))
        .collect();
    let width = |c: usize| {
        cells[c]
            .iter()
            .map(|s| display_width(s))
            .chain([display_width(&names[c])])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..ncol).map(width).collect();
    let right: Vec<bool> = schema.fields().iter().map(|f| is_numeric(f)).collect();
    let line = |out: &mut dyn Write, row: &mut dyn Iterator<Item = &String>| -> io::Result<()> {
        let mut parts = Vec::with_capacity(ncol);
        for (c, s) in row.enumerate() {
            parts.push(pad(s, widths[c], right[c]));
        }
        writeln!(out, "{}", parts.join(" │ ").trim_end())
    };
    line(out, &mut names.iter())?;
    let rule: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("─┼─"))?;
    for r in 0..shown {
        line(out, &mut cells.iter().map(|col| &col[r]))?;
    }
    match (shown < total, total) {
        (true, _) => writeln!(
            out,
            "({total} rows, first {shown} shown; --max-rows 0 or --format csv shows all)"
        ),
        (false, 1) => writeln!(out, "(1 row)"),
        (false, _) => writeln!(out, "({total} rows)"),
    }
}

/// An EXPLAIN result as DuckDB draws it: the plan text itself, not a table cell.
fn write_plan(out: &mut impl Write, batches: &[RecordBatch]) -> io::Result<()> {
    for batch in batches {
        for text in column_text(batch.column(1))?.into_iter().flatten() {
            writeln!(out, "{text}")?;
        }
    }
    Ok(())
}

/// An RFC 4180 CSV field: quoted when it must be, and always when empty (the empty string is
/// `""`, NULL an empty field).
fn csv_field(s: &str) -> String {
    if s.is_empty() || s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ')
    {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RFC 4180 CSV's header row.
fn csv_header(out: &mut impl Write, schema: &Schema) -> io::Result<()> {
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    write!(out, "{}\r\n", header.join(","))
}

/// A chunk's rows as CSV; NULL is an empty field, the empty string is `""`.
fn csv_rows(out: &mut impl Write, batch: &RecordBatch) -> io::Result<()> {
    let cols = batch
        .columns()
        .iter()
        .map(column_text)
        .collect::<io::Result<Vec<_>>>()?;
    for r in 0..batch.num_rows() {
        let row: Vec<String> = cols
            .iter()
            .map(|c| c[r].as_deref().map(csv_field).unwrap_or_default())
            .collect();
        write!(out, "{}\r\n", row.join(","))?;
    }
    Ok(())
}

/// A chunk's rows as objects of a JSON array keyed by column name (`keys`, already JSON
/// strings): numbers as JSON numbers (exact digits; also the digits DuckDB gave as text for
/// `UHUGEINT` and `BIGNUM`), text as strings, NULL as null, lists and structs nested, maps as
/// objects, a union as its member, anything else as its text. A name that comes again (a self-join,
/// `SELECT 1 a, 2 a`) is suffixed `_1`, `_2`, … as DuckDB does for such a table: a JSON reader
/// keeps one value per key, and would drop the others silently.
fn json_rows(
    out: &mut impl Write,
    keys: &[String],
    digits: &[bool],
    batch: &RecordBatch,
    first: &mut bool,
) -> io::Result<()> {
    for r in 0..batch.num_rows() {
        write!(out, "{}\n{{", if *first { "" } else { "," })?;
        *first = false;
        for (c, col) in batch.columns().iter().enumerate() {
            write!(out, "{}{}:", if c == 0 { "" } else { "," }, keys[c])?;
            match col.as_string_opt::<i32>() {
                Some(s) if digits[c] && s.is_valid(r) => write!(out, "{}", s.value(r))?,
                _ => json_value(out, col, r)?,
            }
        }
        write!(out, "}}")?;
    }
    Ok(())
}

/// `names` with each repeated one suffixed `_1`, `_2`, … (the first suffix no other column has).
fn unique_names<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> = names.clone().map(String::from).collect();
    let mut seen = std::collections::HashSet::new();
    names
        .map(|name| {
            if seen.insert(name) {
                return name.to_string();
            }
            let unique = (1..)
                .map(|k| format!("{name}_{k}"))
                .find(|n| !taken.contains(n))
                .expect("a free suffix");
            taken.insert(unique.clone());
            unique
        })
        .collect()
}

fn json_value(out: &mut impl Write, array: &ArrayRef, i: usize) -> io::Result<()> {
    if is_null(array.as_ref(), i) {
        return write!(out, "null");
    }
    let one = array.slice(i, 1);
    let text =
        || -> io::Result<String> { Ok(column_text(&one)?.pop().flatten().unwrap_or_default()) };
    match array.data_type() {
        DataType::Boolean => write!(out, "{}", array.as_boolean().value(i)),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let v = arrow::compute::cast(&one, &DataType::Float64).map_err(io::Error::other)?;
            let v = v.as_primitive::<arrow::datatypes::Float64Type>().value(0);
            match array.data_type() {
                // Rust's Debug form: the shortest text that reads back as the same double, with
                // a `.0` or an exponent (`2.0`, `-0.0`, `1e300`): a float stays a float, and a
                // negative zero keeps its sign, in readers that tell integers apart.
                DataType::Float64 if v.is_finite() => write!(out, "{v:?}"),
                _ if v.is_finite() => write!(out, "{}", text()?),
                // JSON has no such numbers: the names JavaScript gives them, as strings.
                _ if v.is_nan() => write!(out, "\"NaN\""),
                _ if v > 0.0 => write!(out, "\"Infinity\""),
                _ => write!(out, "\"-Infinity\""),
            }
        }
        t if t.is_integer() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => {
            write!(out, "{}", text()?)
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
            let items = match array.data_type() {
                DataType::List(_) => array.as_list::<i32>().value(i),
                DataType::LargeList(_) => array.as_list::<i64>().value(i),
                _ => array.as_fixed_size_list().value(i),
            };
            write!(out, "[")?;
            for j in 0..items.len() {
                write!(out, "{}", if j == 0 { "" } else { "," })?;
                json_value(out, &items, j)?;
            }
            write!(out, "]")
        }
        // An object keyed by each key's text (a JSON key is a string), as DuckDB's `to_json`.
        DataType::Map(..) => {
            let entries = array.as_map().value(i);
            let keys = column_text(entries.column(0))?;
            write!(out, "{{")?;
            for (j, key) in keys.iter().enumerate() {
                let key = serde_json::to_string(key.as_deref().unwrap_or("null"))
                    .map_err(io::Error::other)?;
                write!(out, "{}{key}:", if j == 0 { "" } else { "," })?;
                json_value(out, entries.column(1), j)?;
            }
            write!(out, "}}")
        }
        // The member's value, under the member's name, as DuckDB's `to_json`.
        DataType::Union(fields, _) => {
            let u = array.as_union();
            let (id, k) = (u.type_id(i), u.value_offset(i));
            // A union has no validity of its own: a NULL one is a NULL member.
            if u.child(id).is_null(k) {
                return write!(out, "null");
            }
            let name = fields
                .iter()
                .find(|(t, _)| *t == id)
                .map(|(_, f)| f.name().as_str())
                .unwrap_or_default();
            let key = serde_json::to_string(name).map_err(io::Error::other)?;
            write!(out, "{{{key}:")?;
            json_value(out, u.child(id), k)?;
            write!(out, "}}")
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            write!(out, "{{")?;
            for (k, f) in fields.iter().enumerate() {
                let key = serde_json::to_string(f.name()).map_err(io::Error::other)?;
                write!(out, "{}{key}:", if k == 0 { "" } else { "," })?;
                json_value(out, s.column(k), i)?;
            }
            write!(out, "}}")
        }
        _ => write!(
            out,
            "{}",
            serde_json::to_string(&text()?).map_err(io::Error::other)?
        ),
    }
}

/// Prints one line to standard output and flushes it: a command's one-line result. A reader that
/// closed the pipe (`| head -0`) is no error: the exit status still tells.
pub fn print_line(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use std::sync::Arc;

    #[test]
    fn invisible_and_direction_characters_are_shown_as_escapes() {
        for c in [
            '\u{200e}',
            '\u{200f}',
            '\u{061c}',
            '\u{2028}',
            '\u{2029}',
            '\u{200b}',
            '\u{2060}',
            '\u{feff}',
            '\u{00ad}',
            '\u{202e}',
            '\u{2067}',
            '\u{1b}',
            '\u{e0041}',
            '\u{3164}',
            '\u{206a}',
            '\u{fffa}',
        ] {
            let safe = terminal_safe(&format!("a{c}b"));
            assert_eq!(safe, format!("a\\u{{{:x}}}b", c as u32), "{:x}", c as u32);
        }
        // Writing uses these: they stay.
        for s in ["👨\u{200d}👩", "ab\u{200c}c", "東京", "e\u{301}"] {
            assert_eq!(terminal_safe(s), s);
        }
    }

    #[test]
    fn cells_are_cut_and_padded_by_terminal_columns() {
        assert_eq!(display_width("東京"), 4);
        assert_eq!(
            display_width("e\u{301}"),
            1,
            "a combining accent takes no column"
        );
        assert_eq!(fit("東京都渋谷区", 7), "東京都…");
        assert_eq!(display_width(&fit("東京都渋谷区", 7)), 7);
        assert_eq!(fit("abc", 3), "abc");
        assert_eq!(fit("abcd", 3), "ab…");
        assert_eq!(pad("東京", 6, false), "東京  ");
        assert_eq!(pad("7", 3, true), "  7");
    }

    #[test]
    fn a_table_of_wide_characters_is_aligned() {
        let schema = Arc::new(Schema::new(vec![
            arrow::datatypes::Field::new("city", DataType::Utf8, true),
            arrow::datatypes::Field::new("x", DataType::Utf8, true),
        ]));
        let cities = StringArray::from(vec![Some("東京"), Some("Paris"), Some("Zu\u{308}rich")]);
        let xs = StringArray::from(vec![Some("a"), Some("b"), Some("c")]);
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(cities), Arc::new(xs)]).unwrap();
        let mut out = Vec::new();
        write_table(&mut out, &schema, &[batch], 3).unwrap();
        let text = String::from_utf8(out).unwrap();
        // The separator sits at the same terminal column on every line of the table.
        let column_of_bar = |l: &str| l.find('│').map(|i| display_width(&l[..i]));
        let lines: Vec<&str> = text.lines().filter(|l| l.contains('│')).collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines
                .iter()
                .all(|l| column_of_bar(l) == column_of_bar(lines[0])),
            "{text}"
        );
    }
}
