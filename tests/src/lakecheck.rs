//! Independent checks of a lake with DuckDB: row counts, provenance uniqueness, dead letters.
//!
//! The broker tests use these to verify exactly-once from the outside: every committed Parquet
//! file under `LAKE/**/*.parquet` is read by stock DuckDB (`read_parquet`, Hive partitioning),
//! never through the sink's own code.

use anyhow::Result;
use std::path::{Path, PathBuf};

/// Counts over every committed data file of a lake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LakeCounts {
    /// Rows.
    pub rows: i64,
    /// Distinct (`src_partition`, `src_offset`) pairs.
    pub distinct: i64,
}

/// Every `*.parquet` file under `dir` (recursively).
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    files_ending_in(dir, "parquet")
}

/// Every file under `dir` (recursively) with the extension `ext`, sorted; an unreadable
/// directory is passed over.
fn files_ending_in(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The `read_parquet` expression over a lake.
pub fn scan(lake: &Path) -> String {
    format!(
        "read_parquet('{}/**/*.parquet', hive_partitioning = true)",
        lake.display()
    )
}

/// Runs `sql` (which may use `{lake}` for the scan) and returns the first row's integers.
pub fn query_ints(lake: &Path, sql: &str, columns: usize) -> Result<Vec<i64>> {
    let conn = duckdb::Connection::open_in_memory()?;
    let sql = sql.replace("{lake}", &scan(lake));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let row = rows.next()?.ok_or_else(|| anyhow::anyhow!("no row"))?;
    (0..columns)
        .map(|i| Ok(row.get::<_, Option<i64>>(i)?.unwrap_or(0)))
        .collect()
}

/// Rows and distinct provenance pairs; zeros for a lake with no data file yet.
pub fn counts(lake: &Path) -> Result<LakeCounts> {
    if parquet_files(lake).is_empty() {
        return Ok(LakeCounts::default());
    }
    let v = query_ints(
        lake,
        "SELECT count(*), count(DISTINCT (src_partition, src_offset)) FROM {lake}",
        2,
    )?;
    Ok(LakeCounts {
        rows: v[0],
        distinct: v[1],
    })
}

/// One source partition's offsets in the lake: (partition, rows, distinct offsets, min offset,
/// max offset).
pub type PartitionCounts = (i32, i64, i64, i64, i64);

/// Per source partition, in partition order.
pub fn per_partition(lake: &Path) -> Result<Vec<PartitionCounts>> {
    let conn = duckdb::Connection::open_in_memory()?;
    let sql = format!(
        "SELECT src_partition, count(*), count(DISTINCT src_offset), min(src_offset), max(src_offset)
         FROM {} GROUP BY 1 ORDER BY 1",
        scan(lake)
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| -> duckdb::Result<PartitionCounts> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Asserts that the lake holds every offset below each partition's high watermark exactly once,
/// and nothing of any other partition: per partition, rows = distinct offsets = watermark, from
/// 0 to watermark − 1.
pub fn assert_every_offset_once(lake: &Path, high_watermarks: &[i64]) {
    let got = per_partition(lake).expect("per-partition counts");
    let want: Vec<PartitionCounts> = (0i32..)
        .zip(high_watermarks)
        .filter(|&(_, &hw)| hw > 0)
        .map(|(p, &hw)| (p, hw, hw, 0, hw - 1))
        .collect();
    assert_eq!(
        got, want,
        "per partition (partition, rows, distinct offsets, min, max)"
    );
}

/// Every dead-letter JSON object of the lake (`LAKE/_accesslake/rejected/**.jsonl`).
pub fn dead_letters(lake: &Path) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    for f in files_ending_in(&lake.join("_accesslake/rejected"), "jsonl") {
        for line in std::fs::read_to_string(&f)?.lines() {
            out.push(serde_json::from_str(line)?);
        }
    }
    Ok(out)
}

/// Polls `counts` until `rows` reaches `want` (or `limit` passes); returns the last counts.
pub fn wait_for_rows(lake: &Path, want: i64, limit: std::time::Duration) -> Result<LakeCounts> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let c = counts(lake)?;
        if c.rows >= want || std::time::Instant::now() > deadline {
            return Ok(c);
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}
