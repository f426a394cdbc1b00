//! Result columns that DuckDB, not Arrow, must turn into text for `query`. DuckDB hands `query`
//! its result as Arrow, and some of its types do not survive that: a `UHUGEINT` from 2^127 up
//! comes out negative (as a 38-digit decimal), a `TIMETZ` loses its offset, a `BIGNUM`, a
//! `BIT` or a `GEOMETRY` comes out as its internal bytes, and a `VARIANT` cannot be read at all.
//! In CSV and the table, the text Arrow gives a list, struct, map or union does not quote its
//! strings (`['x, y']` and `['x', 'y']` both print `[x, y]`, and a string `'NULL'` prints as a
//! NULL does). Such columns are cast to `VARCHAR` in DuckDB itself, whose text is exact
//! ([`rendered`]): the checked statement runs inside `SELECT #1 AS "a", CAST(#2 AS VARCHAR) AS
//! "b", … FROM query('<statement>')`, so column names, order and rows stay its own. A `UHUGEINT`
//! or `BIGNUM` column so cast is marked ([`DIGITS`]) so that JSON writes its digits as a number
//! and the table aligns it right. A statement `query()` does not take (a PRAGMA that DuckDB runs
//! as a query) runs as it is.

use crate::config::QueryFormat;
use crate::query::{sql_str, QueryError};
use duckdb::ffi;
use std::ffi::{CStr, CString};

/// The Arrow field metadata key set on a column cast to text whose text is an integer.
pub const DIGITS: &str = "accesslake.digits";

/// What a result column needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Render {
    /// Arrow carries it exactly.
    Arrow,
    /// DuckDB's text.
    Text,
    /// DuckDB's text, which is an integer's digits.
    Digits,
}

/// A DuckDB logical type, walked: whether any part of it Arrow cannot carry, whether it is
/// nested, and whether it is an integer Arrow cannot carry.
#[derive(Debug, Default, Clone, Copy)]
struct Shape {
    lossy: bool,
    nested: bool,
    big_integer: bool,
}

/// The SQL to run for the checked `SELECT` `sql` in `format`, and the indexes of the columns
/// cast to text that hold integers; `None` when every column goes through Arrow as it is.
///
/// # Safety
/// `con` must be an open DuckDB connection, used by no other thread during the call.
pub(crate) unsafe fn rendered(
    con: ffi::duckdb_connection,
    sql: &str,
    format: QueryFormat,
) -> Result<Option<(String, Vec<usize>)>, QueryError> {
    // SAFETY: the caller's promise, passed on.
    let cols = unsafe { columns(con, sql)? };
    let render: Vec<Render> = cols
        .iter()
        .map(|(_, s)| match s {
            Shape {
                big_integer: true, ..
            } => Render::Digits,
            Shape { lossy: true, .. } => Render::Text,
            Shape { nested: true, .. } if format != QueryFormat::Json => Render::Text,
            _ => Render::Arrow,
        })
        .collect();
    if render.iter().all(|r| *r == Render::Arrow) {
        return Ok(None);
    }
    let items: Vec<String> = cols
        .iter()
        .zip(&render)
        .enumerate()
        .map(|(i, ((name, _), r))| {
            // Named again: `query()` makes repeated names unique (`a`, `a_1`), the statement
            // itself does not.
            let name = name.replace('"', "\"\"");
            match r {
                Render::Arrow => format!("#{} AS \"{name}\"", i + 1),
                Render::Text | Render::Digits => {
                    format!("CAST(#{} AS VARCHAR) AS \"{name}\"", i + 1)
                }
            }
        })
        .collect();
    let digits = (0..render.len())
        .filter(|&i| render[i] == Render::Digits)
        .collect();
    let wrapped = format!("SELECT {} FROM query({})", items.join(", "), sql_str(sql));
    // `query()` takes a SELECT only: a PRAGMA that DuckDB runs as a query (`PRAGMA functions`)
    // is not one, and runs as it is.
    // SAFETY: as above.
    if unsafe { columns(con, &wrapped) }.is_err() {
        return Ok(None);
    }
    Ok(Some((wrapped, digits)))
}

/// DuckDB's message for an error in a wrapped statement, without the `LINE 1: …` excerpt that
/// would quote the wrapper rather than the statement the user wrote.
pub(crate) fn unwrapped_message(msg: &str) -> String {
    match msg.find("\nLINE ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The result columns of `sql` (one statement), each with its name and [`Shape`].
///
/// # Safety
/// As [`rendered`].
unsafe fn columns(
    con: ffi::duckdb_connection,
    sql: &str,
) -> Result<Vec<(String, Shape)>, QueryError> {
    let c_sql = CString::new(sql).map_err(|_| QueryError::Sql("SQL contains a NUL byte".into()))?;
    // SAFETY: C API calls on an open connection (the caller's promise); the prepared statement,
    // each logical type and each name are released here, after being read.
    unsafe {
        let mut prepared: ffi::duckdb_prepared_statement = std::ptr::null_mut();
        if ffi::duckdb_prepare(con, c_sql.as_ptr(), &mut prepared) != ffi::DuckDBSuccess {
            let msg = ffi::duckdb_prepare_error(prepared);
            let msg = match msg.is_null() {
                true => "cannot prepare the statement".to_string(),
                false => CStr::from_ptr(msg).to_string_lossy().into_owned(),
            };
            ffi::duckdb_destroy_prepare(&mut prepared);
            return Err(crate::query::sql_error(msg));
        }
        let n = ffi::duckdb_prepared_statement_column_count(prepared);
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let name_ptr = ffi::duckdb_prepared_statement_column_name(prepared, i);
            let name = match name_ptr.is_null() {
                true => String::new(),
                false => CStr::from_ptr(name_ptr).to_string_lossy().into_owned(),
            };
            if !name_ptr.is_null() {
                ffi::duckdb_free(name_ptr as *mut std::ffi::c_void);
            }
            let mut t = ffi::duckdb_prepared_statement_column_logical_type(prepared, i);
            let shape = shape(t);
            ffi::duckdb_destroy_logical_type(&mut t);
            out.push((name, shape));
        }
        ffi::duckdb_destroy_prepare(&mut prepared);
        Ok(out)
    }
}

/// Walks a logical type and its children.
///
/// # Safety
/// `t` must be a valid logical type (it is not destroyed here).
unsafe fn shape(t: ffi::duckdb_logical_type) -> Shape {
    if t.is_null() {
        return Shape::default();
    }
    // SAFETY: the caller's promise; each child type is destroyed after it is walked.
    unsafe {
        let id = ffi::duckdb_get_type_id(t);
        let child = |mut c: ffi::duckdb_logical_type| {
            let s = shape(c);
            if !c.is_null() {
                ffi::duckdb_destroy_logical_type(&mut c);
            }
            s
        };
        let children: Vec<Shape> = match id {
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_LIST => vec![child(ffi::duckdb_list_type_child_type(t))],
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_ARRAY => {
                vec![child(ffi::duckdb_array_type_child_type(t))]
            }
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_MAP => vec![
                child(ffi::duckdb_map_type_key_type(t)),
                child(ffi::duckdb_map_type_value_type(t)),
            ],
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_STRUCT => (0..ffi::duckdb_struct_type_child_count(t))
                .map(|k| child(ffi::duckdb_struct_type_child_type(t, k)))
                .collect(),
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UNION => (0..ffi::duckdb_union_type_member_count(t))
                .map(|k| child(ffi::duckdb_union_type_member_type(t, k)))
                .collect(),
            _ => Vec::new(),
        };
        let big_integer = matches!(
            id,
            ffi::DUCKDB_TYPE_DUCKDB_TYPE_UHUGEINT | ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIGNUM
        );
        let lossy = big_integer
            || matches!(
                id,
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_TIME_TZ
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_BIT
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_GEOMETRY
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_VARIANT
            )
            || children.iter().any(|c| c.lossy);
        Shape {
            lossy,
            nested: matches!(
                id,
                ffi::DUCKDB_TYPE_DUCKDB_TYPE_LIST
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_ARRAY
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_MAP
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_STRUCT
                    | ffi::DUCKDB_TYPE_DUCKDB_TYPE_UNION
            ),
            big_integer,
        }
    }
}

/// `schema` with the fields at `digits` marked [`DIGITS`].
pub(crate) fn mark_digits(
    schema: arrow::datatypes::SchemaRef,
    digits: &[usize],
) -> arrow::datatypes::SchemaRef {
    if digits.is_empty() {
        return schema;
    }
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match digits.contains(&i) {
            true => {
                let mut metadata = f.metadata().clone();
                metadata.insert(DIGITS.to_string(), "true".to_string());
                f.as_ref().clone().with_metadata(metadata)
            }
            false => f.as_ref().clone(),
        })
        .collect();
    std::sync::Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ))
}
