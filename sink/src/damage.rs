//! Which lake file a read error came from ([`find`]).
//!
//! DuckDB names the file in most of its errors over Parquet (a file cut short, a footer that does
//! not parse, a wrong magic number), but not in all: damage inside a file's pages (a page header
//! that no longer decodes, a compressed page that no longer inflates) comes out as, for instance,
//! `TProtocolException: Invalid data`, naming nothing. When a statement over the lake fails with
//! a read error that names none of the session's files (the data files of its range, and the
//! summaries it reads), `query` and `report` read each of them in full with the parquet crate, an
//! independent reader, on every core, and name the ones that fail, each with the reason, and what
//! to do about it. The search reads the whole range once, so it runs only on that error path:
//! never for a statement's own errors (its syntax, a name it binds, a cast of a value it
//! computes, a function that rejects its argument, as `strptime` or `error` do), which a damaged
//! file cannot cause.

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs::File;
use std::path::Path;

/// At most this many damaged files are named one by one; the rest are counted.
const NAMED: usize = 10;

/// The classes of DuckDB error a statement brings on itself, whatever its files hold.
const STATEMENT_ERRORS: &[&str] = &[
    "Parser Error",
    "Binder Error",
    "Catalog Error",
    "Conversion Error",
    "Out of Range Error",
    "Not implemented Error",
    "Syntax Error",
    "Permission Error",
    "Interrupt Error",
    "Constraint Error",
    "Dependency Error",
    "Transaction Error",
    "Mismatch Type Error",
    "Invalid type Error",
    "Out of Memory Error",
];

/// One file the parquet crate cannot read in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    pub path: String,
    /// The parquet crate's error.
    pub reason: String,
}

/// The class of error DuckDB raises both for a function that rejects its argument (`error('x')`,
/// `strptime` with a format the text does not match) and for some damage it finds in a file.
const INVALID_INPUT: &str = "Invalid Input Error";

/// Whether DuckDB's error `message`, from a statement that read `files`, calls for [`find`]: it
/// is not of a class the statement brings on itself, and it names none of the files. An
/// [`INVALID_INPUT`] error calls for it only when it speaks of Parquet or of corruption: the
/// rest are a function's verdict on its argument, and a search would read the whole range in
/// vain.
pub fn worth_a_search(message: &str, files: &[String]) -> bool {
    let class = message.split_once(": ").map_or("", |(class, _)| class);
    let about_files = || {
        let m = message.to_ascii_lowercase();
        m.contains("parquet") || m.contains("corrupt")
    };
    !files.is_empty()
        && !STATEMENT_ERRORS.contains(&class)
        && (class != INVALID_INPUT || about_files())
        && !files.iter().any(|f| message.contains(f.as_str()))
}

/// The files among `files` that the parquet crate cannot read in full, in their order, each with
/// its reason.
pub fn find(files: &[String]) -> Vec<Damaged> {
    crate::summary_use::on_threads(files, 1, |path| {
        read_in_full(path).err().map(|reason| Damaged {
            path: path.clone(),
            reason,
        })
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Reads every row of every column of the Parquet file at `path`, returning its row count, or the
/// reason it cannot be read.
pub fn read_in_full(path: impl AsRef<Path>) -> Result<u64, String> {
    read_each(path, &mut |_| Ok(()))
}

/// [`read_in_full`], handing each batch to `each` (whose error stops the reading). The parquet
/// crate can panic on some damaged input rather than return an error: that is this file's
/// error too, not the end of the command.
pub fn read_each(
    path: impl AsRef<Path>,
    each: &mut dyn FnMut(&RecordBatch) -> Result<(), String>,
) -> Result<u64, String> {
    let path = path.as_ref();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_batches(path, each)))
        .unwrap_or_else(|panic| {
            let what = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the Parquet reader failed on it: {what}"))
        })
}

fn read_batches(
    path: &Path,
    each: &mut dyn FnMut(&RecordBatch) -> Result<(), String>,
) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(reason)?;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(reason)?;
        each(&batch)?;
        rows += batch.num_rows() as u64;
    }
    Ok(rows)
}

/// The parquet crate's error, and whether it means damage: a file compressed with a codec this
/// build leaves out (brotli) is not damaged.
fn reason(e: impl ToString) -> String {
    let e = e.to_string();
    match e.contains("Disabled feature at compile time") {
        true => format!("{e} (a compression codec this build does not read: not damage)"),
        false => e,
    }
}

/// DuckDB's `message`, followed by what [`find`] found among `files`: the damaged files, or that
/// every one reads in full (so the error is not a damaged file's).
pub fn explain(message: &str, files: &[String]) -> String {
    tracing::info!(
        files = files.len(),
        "DuckDB's error names no file: reading every file of the session in full to find a \
         damaged one"
    );
    let damaged = find(files);
    if damaged.is_empty() {
        return format!(
            "{message}\n(all {} file(s) searched decode in full with another Parquet \
             reader, the parquet crate: none of them is damaged)",
            files.len()
        );
    }
    let mut out = format!(
        "{message}\n{} of the {} file(s) searched cannot be read in full (checked with \
         another Parquet reader, the parquet crate):",
        damaged.len(),
        files.len()
    );
    for d in damaged.iter().take(NAMED) {
        out.push_str(&format!("\n  {}: {}", d.path, d.reason));
    }
    if damaged.len() > NAMED {
        out.push_str(&format!("\n  … and {} more", damaged.len() - NAMED));
    }
    let summaries = damaged.iter().any(|d| d.path.ends_with(".summary"));
    let data = damaged.iter().any(|d| !d.path.ends_with(".summary"));
    if data {
        out.push_str(
            "\nhint: restore each damaged data file from a copy, or move it out of the lake (its \
             rows are then missing from every answer)",
        );
    }
    if summaries {
        out.push_str(
            "\nhint: delete each damaged summary (`report` then aggregates its data file's rows), \
             or run `report --no-summaries`",
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_read_errors_naming_no_file_are_searched() {
        let files = vec!["/lake/year=2019/a.parquet".to_string()];
        assert!(worth_a_search("TProtocolException: Invalid data", &files));
        assert!(worth_a_search(
            "IO Error: ZSTD Decompression failure",
            &files
        ));
        assert!(!worth_a_search("Binder Error: column x not found", &files));
        assert!(!worth_a_search(
            "Conversion Error: Could not convert string 'a' to INT32",
            &files
        ));
        assert!(!worth_a_search(
            "Invalid Input Error: No magic bytes found at end of file \
             '/lake/year=2019/a.parquet'",
            &files
        ));
        assert!(!worth_a_search("TProtocolException: Invalid data", &[]));
        // A function's verdict on its argument is the statement's own error; damage that DuckDB
        // reports in the same class speaks of Parquet or corruption.
        assert!(!worth_a_search("Invalid Input Error: x", &files));
        assert!(!worth_a_search(
            "Invalid Input Error: Could not parse string \"a\" according to format specifier \"%Y\"",
            &files
        ));
        assert!(worth_a_search(
            "Invalid Input Error: Parquet file is likely corrupted",
            &files
        ));
    }
}
