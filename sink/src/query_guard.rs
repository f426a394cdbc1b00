//! The guard of `query`'s read-only session: a statement runs only if it is exactly one
//! `SELECT`, or one `EXPLAIN [ANALYZE]` of a `SELECT`. DuckDB itself classifies it (the type of
//! the prepared statement), so no text trick (comments, case, a CTE around a `COPY`) gets past.
//! An `EXPLAIN ANALYZE` runs its statement, which DuckDB does not expose: the guard cuts that
//! statement out of the text, has DuckDB classify it, and then runs an `EXPLAIN` it writes
//! itself around exactly that statement, never the user's text. A cut fooled by comments (nested
//! ones, a `)` inside one) thus runs a checked `SELECT` or nothing. That `EXPLAIN` explains the
//! checked statement: its prefix is keywords and an options list of names and values only (no
//! comment, quote or parenthesis that could join the statement), DuckDB's option names (FORMAT,
//! ANALYZE, …) cannot start a `SELECT`, and the statement alone prepares as one `SELECT`. Bad SQL
//! gives DuckDB's message, with a hint where one helps.

use crate::query::{sql_error, QueryError};
use duckdb::ffi;
use std::ffi::{CStr, CString};

/// Refuses anything but exactly one `SELECT` (or, when `explain_allowed`, one `EXPLAIN
/// [ANALYZE]` of one), prepared on `con` to be classified. Returns the SQL to run: `sql` itself,
/// or for an `EXPLAIN` the guard's own around the statement it checked (itself checked to be
/// one `EXPLAIN`).
///
/// # Safety
/// `con` must be an open DuckDB connection, used by no other thread during the call.
pub(crate) unsafe fn check(
    con: ffi::duckdb_connection,
    sql: &str,
    explain_allowed: bool,
) -> Result<String, QueryError> {
    // SAFETY: the caller's promise, passed on.
    match unsafe { classify(con, sql)? } {
        ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_SELECT => Ok(sql.to_owned()),
        // EXPLAIN ANALYZE runs its statement: that one must be a SELECT too, and it is what
        // runs, inside the guard's own EXPLAIN.
        ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXPLAIN if explain_allowed => {
            let e = explained(sql)?;
            if e.inner.trim().is_empty() {
                return Err(QueryError::NotReadOnly("EXPLAIN of nothing"));
            }
            // SAFETY: as above.
            let inner = unsafe { check(con, e.inner, false)? };
            let rebuilt = e.rebuilt(&inner);
            // SAFETY: as above.
            match unsafe { classify(con, &rebuilt)? } {
                ffi::duckdb_statement_type_DUCKDB_STATEMENT_TYPE_EXPLAIN => Ok(rebuilt),
                t => Err(QueryError::NotReadOnly(statement_name(t))),
            }
        }
        t => Err(QueryError::NotReadOnly(statement_name(t))),
    }
}

/// The type DuckDB gives `sql` once prepared on `con`; an error unless it is exactly one
/// statement that prepares.
///
/// # Safety
/// As [`check`].
unsafe fn classify(
    con: ffi::duckdb_connection,
    sql: &str,
) -> Result<ffi::duckdb_statement_type, QueryError> {
    let c_sql = CString::new(sql).map_err(|_| QueryError::Sql("SQL contains a NUL byte".into()))?;
    // SAFETY: C API calls on an open connection (the caller's promise); every object created
    // here is destroyed before returning, and error strings are copied out before their owner
    // is destroyed.
    unsafe {
        let mut extracted: ffi::duckdb_extracted_statements = std::ptr::null_mut();
        let n = ffi::duckdb_extract_statements(con, c_sql.as_ptr(), &mut extracted);
        let result = if n == 0 {
            let msg = ffi::duckdb_extract_statements_error(extracted);
            Err(match msg.is_null() {
                true => QueryError::StatementCount { count: 0, hint: "" },
                false => sql_error(CStr::from_ptr(msg).to_string_lossy().into_owned()),
            })
        } else if n > 1 {
            // A PIVOT whose values DuckDB must look up first is two statements to it.
            let pivot = sql.to_ascii_lowercase().contains("pivot");
            Err(QueryError::StatementCount {
                count: n as usize,
                hint: match pivot {
                    true => {
                        "; DuckDB makes two of a PIVOT without `IN (…)`: list the values, \
                             `ON col IN (…)`"
                    }
                    false => "",
                },
            })
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
                Ok(ffi::duckdb_prepared_statement_type(prepared))
            };
            ffi::duckdb_destroy_prepare(&mut prepared);
            r
        };
        ffi::duckdb_destroy_extracted(&mut extracted);
        result
    }
}

/// Skips whitespace, `;` and SQL comments as DuckDB's tokenizer does: ASCII whitespace only, a
/// line comment ends at `\n` or `\r`, and block comments nest.
fn skip_blank(mut s: &str) -> &str {
    loop {
        let t = s
            .trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c'])
            .trim_start_matches(';');
        if let Some(rest) = t.strip_prefix("--") {
            s = rest.find(['\n', '\r']).map_or("", |i| &rest[i..]);
        } else if t.starts_with("/*") {
            s = after_block_comment(t);
        } else if t.len() != s.len() {
            s = t;
        } else {
            return t;
        }
    }
}

/// The text after the block comment `s` starts with (nested ones inside it included); empty
/// when it is not closed.
fn after_block_comment(s: &str) -> &str {
    let b = s.as_bytes();
    let (mut depth, mut i) = (0usize, 0);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return &s[i..];
                }
            }
            _ => i += 1,
        }
    }
    ""
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

/// An `EXPLAIN` as the guard reads it.
#[derive(Debug, PartialEq, Eq)]
struct Explain<'a> {
    analyze: bool,
    /// The text inside `( … )`: option names and values only.
    options: Option<&'a str>,
    /// The statement explained: the rest of the text.
    inner: &'a str,
}

impl Explain<'_> {
    /// The `EXPLAIN` that runs: the guard's own text around the checked statement `inner`.
    fn rebuilt(&self, inner: &str) -> String {
        let analyze = if self.analyze { "ANALYZE " } else { "" };
        match self.options {
            Some(o) => format!("EXPLAIN {analyze}({o}) {inner}"),
            None => format!("EXPLAIN {analyze}{inner}"),
        }
    }
}

/// Words a parenthesised statement may start with (`EXPLAIN (SELECT …)` explains it; anything
/// else in parentheses is an options list).
const STATEMENT_STARTS: &[&str] = &[
    "SELECT",
    "WITH",
    "FROM",
    "VALUES",
    "TABLE",
    "SUMMARIZE",
    "DESCRIBE",
    "SHOW",
    "PIVOT",
    "UNPIVOT",
];

/// Reads `EXPLAIN [ANALYZE] [(options)] statement`. Options may hold only names, values and
/// commas: no comment or quote can make the guard's cut differ from DuckDB's there.
fn explained(sql: &str) -> Result<Explain<'_>, QueryError> {
    let unrecognised = || QueryError::NotReadOnly("EXPLAIN of an unrecognised statement");
    let s = keyword(skip_blank(sql), "EXPLAIN").ok_or_else(unrecognised)?;
    let (analyze, s) = match keyword(s, "ANALYZE").or_else(|| keyword(s, "ANALYSE")) {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let Some(rest) = s.strip_prefix('(') else {
        return Ok(Explain {
            analyze,
            options: None,
            inner: s,
        });
    };
    let head = skip_blank(rest);
    if head.starts_with('(') || STATEMENT_STARTS.iter().any(|w| keyword(head, w).is_some()) {
        return Ok(Explain {
            analyze,
            options: None,
            inner: s,
        });
    }
    let close = rest.find(')').ok_or_else(unrecognised)?;
    let options = &rest[..close];
    if !options
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ',' | ' ' | '\t' | '\r' | '\n'))
    {
        return Err(QueryError::ExplainOptions);
    }
    Ok(Explain {
        analyze,
        options: Some(options.trim()),
        inner: skip_blank(&rest[close + 1..]),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(sql: &str) -> (bool, Option<&str>, &str) {
        let e = explained(sql).unwrap();
        (e.analyze, e.options, e.inner)
    }

    #[test]
    fn explain_is_cut_into_its_parts() {
        assert_eq!(read("EXPLAIN SELECT 1"), (false, None, "SELECT 1"));
        assert_eq!(
            read(" explain -- c\n analyse SELECT 1"),
            (true, None, "SELECT 1")
        );
        assert_eq!(
            read("EXPLAIN ANALYZE (FORMAT json) SELECT 1"),
            (true, Some("FORMAT json"), "SELECT 1")
        );
        // A parenthesised statement is the statement, not options.
        assert_eq!(
            read("EXPLAIN ANALYZE (SELECT 1)"),
            (true, None, "(SELECT 1)")
        );
        assert_eq!(
            read("EXPLAIN (SELECT 1) UNION ALL (SELECT 2)"),
            (false, None, "(SELECT 1) UNION ALL (SELECT 2)")
        );
        assert_eq!(read("EXPLAIN ((SELECT 1))"), (false, None, "((SELECT 1))"));
    }

    #[test]
    fn options_with_comments_or_quotes_are_refused() {
        for sql in [
            "EXPLAIN (ANALYZE /* ) SELECT 1 -- */) COPY t TO 'f'",
            "EXPLAIN (FORMAT 'json') SELECT 1",
            "EXPLAIN (FORMAT json -- x\n) SELECT 1",
        ] {
            assert!(
                matches!(explained(sql), Err(QueryError::ExplainOptions)),
                "{sql}"
            );
        }
        assert!(explained("EXPLAIN (FORMAT json SELECT 1").is_err());
    }

    #[test]
    fn block_comments_nest_as_in_duckdb() {
        // DuckDB reads `/* /* */ SELECT 1 --*/` as one comment: the statement is the COPY.
        let sql = "EXPLAIN ANALYZE /* /* */ SELECT 1 --*/ COPY (SELECT 42) TO 'f'";
        assert_eq!(read(sql), (true, None, "COPY (SELECT 42) TO 'f'"));
        assert_eq!(
            read("EXPLAIN /* a /* b */ c */ SELECT 1"),
            (false, None, "SELECT 1")
        );
        assert_eq!(read("; EXPLAIN SELECT 1"), (false, None, "SELECT 1"));
        // A line comment ends at `\r` too; a non-ASCII space is not whitespace to DuckDB.
        assert_eq!(read("EXPLAIN --c\rSELECT 1"), (false, None, "SELECT 1"));
        assert!(explained("\u{a0}EXPLAIN SELECT 1").is_err());
        assert!(explained("EXPLAIN /* never closed SELECT 1").is_ok_and(|e| e.inner.is_empty()));
    }

    #[test]
    fn what_runs_is_the_guards_own_text_around_the_checked_statement() {
        // Were the cut still fooled, what runs is the cut inside the guard's own EXPLAIN.
        let e = explained("EXPLAIN ANALYZE -- x\n SELECT 1 --*/ COPY (SELECT 42) TO 'f'").unwrap();
        assert_eq!(e.inner, "SELECT 1 --*/ COPY (SELECT 42) TO 'f'");
        assert_eq!(
            e.rebuilt(e.inner),
            "EXPLAIN ANALYZE SELECT 1 --*/ COPY (SELECT 42) TO 'f'"
        );
        let e = explained("explain analyze (format json) SELECT 1").unwrap();
        assert_eq!(e.rebuilt(e.inner), "EXPLAIN ANALYZE (format json) SELECT 1");
    }
}
