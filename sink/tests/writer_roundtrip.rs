//! Parquet round trip: rows built from the shared logs are written by the sink's writer and read
//! back with parquet's own reader; every value of every column must come back unchanged, with
//! the declared types and the file metadata.

mod common;

use accesslake::enrich::Enricher;
use accesslake::rows::{lake_schema, Provenance, Rows};
use accesslake::writer::{write_file, FileMeta};
use accesslake_transform::{parse_line, Value};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use common::*;

#[derive(Debug, PartialEq)]
enum Owned {
    Time(i64),
    Str(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

fn owned(v: Value<'_>) -> Owned {
    match v {
        Value::Timestamp(t) => Owned::Time(t),
        Value::Str(s) => Owned::Str(s.map(str::to_string)),
        Value::Int(i) => Owned::Int(i),
        Value::Float(f) => Owned::Float(f),
        Value::Bool(b) => Owned::Bool(b),
    }
}

fn read_back(a: &ArrayRef, i: usize) -> Owned {
    let null = a.is_null(i);
    match a.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
            assert!(!null);
            Owned::Time(a.as_primitive::<TimestampMicrosecondType>().value(i))
        }
        DataType::Utf8 => Owned::Str((!null).then(|| a.as_string::<i32>().value(i).to_string())),
        DataType::Int32 => {
            Owned::Int((!null).then(|| i64::from(a.as_primitive::<Int32Type>().value(i))))
        }
        DataType::Int64 => Owned::Int((!null).then(|| a.as_primitive::<Int64Type>().value(i))),
        DataType::Float64 => {
            Owned::Float((!null).then(|| a.as_primitive::<Float64Type>().value(i)))
        }
        DataType::Boolean => Owned::Bool((!null).then(|| a.as_boolean().value(i))),
        t => panic!("unexpected type {t}"),
    }
}

#[test]
fn rows_survive_a_parquet_round_trip() {
    let mut enricher = Enricher::open(
        Some(&geoip("GeoIP2-City-Test.mmdb")),
        Some(&geoip("GeoLite2-ASN-Test.mmdb")),
        1024,
    )
    .unwrap();
    let mut expected: Vec<Vec<Owned>> = Vec::new();
    let mut rows = Rows::with_capacity(16);
    let mut text = std::fs::read(shared_log("zanbil_first1000.log")).unwrap();
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    let extra =
        b"81.2.69.142 - - [22/Jan/2019:03:56:14 +0330] \"GET / HTTP/1.1\" 200 1 \"-\" \"curl/8\"\n"
            .to_vec();
    let text = [text, extra].concat();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        let Ok(rec) = parse_line(line) else { continue };
        let e = enricher.enrich(&rec.client_ip, rec.user_agent.as_deref());
        let prov = Provenance {
            src_partition: 7,
            src_offset: n as i64 + 1,
        };
        expected.push(
            rec.values()
                .into_iter()
                .chain(e.values())
                .chain(prov.values())
                .map(owned)
                .collect(),
        );
        rows.push(&rec, &e, prov);
    }
    assert!(expected.len() > 900);
    assert!(expected
        .iter()
        .any(|r| r.contains(&Owned::Str(Some("London".into())))));
    let batch = rows.finish();
    assert_eq!(rows.len(), 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.parquet");
    let meta = FileMeta {
        source: "test".into(),
        partition: 7,
        first_offset: 1,
        last_offset: expected.len() as i64,
        window_start: 0,
    };
    let written = write_file(&path, std::slice::from_ref(&batch), &meta).unwrap();
    assert_eq!(written.file_metadata().num_rows() as usize, expected.len());

    let f = std::fs::File::open(&path).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .clone();
    let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
    assert_eq!(get("accesslake.source").as_deref(), Some("test"));
    assert_eq!(get("accesslake.partition").as_deref(), Some("7"));
    assert_eq!(get("accesslake.schema_version").as_deref(), Some("1"));
    let rg = builder.metadata().row_group(0);
    assert!(rg
        .columns()
        .iter()
        .all(|c| c.compression().to_string().starts_with("ZSTD")));
    assert_eq!(builder.schema().fields(), lake_schema().fields());
    let mut got: Vec<Vec<Owned>> = Vec::new();
    for b in builder.build().unwrap() {
        let b = b.unwrap();
        for i in 0..b.num_rows() {
            got.push(b.columns().iter().map(|a| read_back(a, i)).collect());
        }
    }
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
}

#[test]
fn a_files_row_groups_are_of_equal_size() {
    let line = b"81.2.69.142 - - [22/Jan/2019:03:56:14 +0330] \"GET / HTTP/1.1\" 200 1 \"-\" \"x\"";
    let rec = parse_line(line).unwrap();
    let mut enricher = Enricher::open(None, None, 16).unwrap();
    let e = enricher.enrich(&rec.client_ip, None);
    let dir = tempfile::tempdir().unwrap();
    let max = accesslake::writer::ROW_GROUP_ROWS;
    for (total, groups) in [
        (max + 1, vec![max / 2 + 1, max / 2]),
        (max, vec![max]),
        (5, vec![5]),
    ] {
        // Several batches, so that groups span batch boundaries.
        let mut batches = Vec::new();
        let mut left = total;
        let mut offset = 0;
        while left > 0 {
            let n = left.min(50_000);
            let mut rows = Rows::with_capacity(n);
            for _ in 0..n {
                offset += 1;
                let prov = Provenance {
                    src_partition: 0,
                    src_offset: offset,
                };
                rows.push(&rec, &e, prov);
            }
            batches.push(rows.finish());
            left -= n;
        }
        let path = dir.path().join(format!("{total}.parquet"));
        let meta = FileMeta {
            source: "test".into(),
            partition: 0,
            first_offset: 1,
            last_offset: total as i64,
            window_start: 0,
        };
        let written = write_file(&path, &batches, &meta).unwrap();
        let sizes: Vec<usize> = written
            .row_groups()
            .iter()
            .map(|g| g.num_rows() as usize)
            .collect();
        assert_eq!(sizes, groups, "{total} rows");
    }
}
