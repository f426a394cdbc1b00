//! The guard of `query`'s read-only session: a statement runs only if it is exactly one
//! `SELECT`, or one `EXPLAIN [ANALYZE]` of a `SELECT`. DuckDB itself classifies it (the type of
//! the prepared statement), so no text trick (comments, case, a CTE around a `COPY`) gets past;
//! the text is only read to find the statement an `EXPLAIN ANALYZE` would run. Bad SQL gives
//! DuckDB's message, with a hint where one helps.

use crate::query::{sql_error, QueryError};
use duckdb::ffi;
use std::ffi::{CStr, CString};

/// Refuses anything but exactly one `SELECT` (or, when `explain_allowed`, one `EXPLAIN
/// [ANALYZE]` of one), prepared on `con` to be classified.
///
/// # Safety
/// `con` must be an open DuckDB connection, used by no other thread during the call.
pub(crate) unsafe fn check(
    con: ffi::duckdb_connection,
    sql: &str,
    explain_allowed: bool,
) -> Result<(), QueryError> {
    let c_sql = CString::new(sql).map_err(|_| QueryError::Sql("SQL contains a NUL byte".into()))?;
    // SAFETY: C API calls on an open connection (the caller's promise); every object created here is destroyed
    // before returning, and error strings are copied out before their owner is destroyed.
    unsafe {
        let mut extracted: ffi::duckdb_extracted_statements = std::ptr::null_mut();
        let n = ffi::duckdb_extract_statements(con, c_sql.as_ptr(), &mut extracted);
        let result = if n == 0 {
            let msg = ffi::duckdb_extract_statements_error(extracted);
            Err(match msg.is_null() {
                true => QueryError::StatementCount(0),
                false => sql_error(CStr::from_ptr(msg).to_string_lossy().into_owned()),
            })
        } else if n > 1 {
            Err(QueryError::StatementCount(n as usize))
        } else {
            let mut prepared: ffi::duckdb_prepared_statement = std::ptr::null_mut();
            let ok = ffi::duckdb_prepare_extracted_statement(con, extracted, 0, &mut prepared);
            let r = if ok != ffi::DuckDBSuccess {
                let msg = ffi::duckdb_prepare_error(prepared);
                Err(sql_error(if msg.is_null() {
                    "cannot prepare the statement".into()
                } else {
                    CStr::from_ptr(msg).to_string_lossy().into_owned()
                }))
            } else {
                match ffi::duckdb_prepared_statement_type(prepared) {
                    ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_SELECT => Ok(()),
                    // EXPLAIN ANALYZE runs its statement: that one must be a SELECT too.
                    ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXPLAIN if explain_allowed => {
                        match explained(sql) {
                            Some(inner) if !inner.trim().is_empty() => check(con, inner, false),
                            _ => Err(QueryError::NotReadOnly("EXPLAIN of an unrecognised")),
                        }
                    }
                    t => Err(QueryError::NotReadOnly(statement_name(t))),
                }
            };
            ffi::duckdb_destroy_prepare(&mut prepared);
            r
        };
        ffi::duckdb_destroy_extracted(&mut extracted);
        result
    }
}

/// Skips whitespace and SQL comments.
fn skip_blank(mut s: &str) -> &str {
    loop {
        let t = s.trim_start();
        if let Some(rest) = t.strip_prefix("--") {
            s = rest.find('\n').map_or("", |i| &rest[i..]);
        } else if let Some(rest) = t.strip_prefix("/*") {
            s = rest.find("*/").map_or("", |i| &rest[i + 2..]);
        } else {
            return t;
        }
    }
}

/// Strips a case-insensitive keyword and the blank after it.
fn keyword<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    let boundary = rest
        .chars()
        .next()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_');
    (head.eq_ignore_ascii_case(word) && boundary).then(|| skip_blank(rest))
}

/// The statement an `EXPLAIN [ANALYZE] [(options)]` explains, when the text has that shape.
fn explained(sql: &str) -> Option<&str> {
    let mut s = keyword(skip_blank(sql), "EXPLAIN")?;
    s = keyword(s, "ANALYZE")
        .or_else(|| keyword(s, "ANALYSE"))
        .unwrap_or(s);
    if let Some(rest) = s.strip_prefix('(') {
        let close = rest.find(')')?;
        s = skip_blank(&rest[close + 1..]);
    }
    Some(s)
}

#[allow(non_upper_case_globals)]
fn statement_name(t: ffi::duckdb_statement_type) -> &'static str {
    use ffi::*;
    match t {
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_INSERT => "INSERT",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_UPDATE => "UPDATE",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_DELETE => "DELETE",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_CREATE => "CREATE",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_COPY => "COPY",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_ATTACH => "ATTACH",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_DETACH => "DETACH",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXPORT => "EXPORT",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_DROP => "DROP",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_ALTER => "ALTER",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_SET
        | duckdb_statement_type_DUCKDB_STATEMENT_TYPE_VARIABLE_SET => "SET",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_PRAGMA => "PRAGMA",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_LOAD => "LOAD",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_CALL => "CALL",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_TRANSACTION => "transaction",
        duckdb_statement_type_DUCKDB_STATEMENT_TYPE_COPY_DATABASE => "COPY DATABASE",
        _ => "non-query",
    }
}
