//! The lake's row schema and a columnar row buffer.
//!
//! A lake row is a parsed [`Record`] ++ its [`Enrichment`] ++ its [`Provenance`]; the column list
//! is derived from the three `schema!` declarations ([`lake_fields`]), never written out twice.
//! [`Rows`] appends rows straight into one Arrow builder per column (no per-row allocation) and
//! [`Rows::finish`] turns them into a `RecordBatch` for the [`crate::writer`].
//! Types: `time` is `Timestamp(Microsecond, "UTC")`, `Int32`/`Int64`/`Float64`/`Boolean`/`Utf8`
//! otherwise, per each field's [`Kind`].

use crate::enrich::Enrichment;
use accesslake_transform::{Field, Kind, Record, Value};
use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use std::sync::{Arc, LazyLock};

accesslake_transform::schema! {
    /// Where a row came from: every input record is identifiable by this pair.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Provenance {
        /// Kafka partition, or for `ingest` the input file's id.
        pub src_partition: i32,
        /// Kafka offset, or for `ingest` the line number (from 1).
        pub src_offset: i64,
    }
}

/// Every lake column in order: record fields, enrichment, provenance.
pub fn lake_fields() -> impl Iterator<Item = &'static Field> {
    Record::FIELDS
        .iter()
        .chain(Enrichment::FIELDS)
        .chain(Provenance::FIELDS)
}

/// The Arrow type of a column kind.
pub fn arrow_type(kind: Kind) -> DataType {
    match kind {
        Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::Str => DataType::Utf8,
        Kind::Int32 => DataType::Int32,
        Kind::Int64 => DataType::Int64,
        Kind::Float64 => DataType::Float64,
        Kind::Bool => DataType::Boolean,
    }
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        lake_fields()
            .map(|f| arrow::datatypes::Field::new(f.name, arrow_type(f.kind), f.nullable))
            .collect::<Vec<_>>(),
    ))
});

/// The lake's Arrow schema (shared).
pub fn lake_schema() -> SchemaRef {
    SCHEMA.clone()
}

enum Column {
    Time(TimestampMicrosecondBuilder),
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
}

impl Column {
    /// A builder with room for `rows` values; a text column also for `text` bytes.
    fn new(kind: Kind, rows: usize, text: usize) -> Column {
        match kind {
            Kind::Timestamp => {
                Column::Time(TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
            Kind::Str => Column::Str(StringBuilder::with_capacity(rows, text)),
            Kind::Int32 => Column::I32(Int32Builder::with_capacity(rows)),
            Kind::Int64 => Column::I64(Int64Builder::with_capacity(rows)),
            Kind::Float64 => Column::F64(Float64Builder::with_capacity(rows)),
            Kind::Bool => Column::Bool(BooleanBuilder::with_capacity(rows)),
        }
    }

    #[inline]
    fn append(&mut self, v: Value<'_>) {
        match (self, v) {
            (Column::Time(b), Value::Timestamp(t)) => b.append_value(t),
            (Column::Str(b), Value::Str(s)) => b.append_option(s),
            (Column::I32(b), Value::Int(i)) => {
                b.append_option(i.and_then(|i| i32::try_from(i).ok()))
            }
            (Column::I64(b), Value::Int(i)) => b.append_option(i),
            (Column::F64(b), Value::Float(f)) => b.append_option(f),
            (Column::Bool(b), Value::Bool(x)) => b.append_option(x),
            // Kinds and values both derive from the same declarations: unreachable in practice,
            // and a null is the honest value if it ever happens.
            (c, _) => c.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Time(b) => b.append_null(),
            Column::Str(b) => b.append_null(),
            Column::I32(b) => b.append_null(),
            Column::I64(b) => b.append_null(),
            Column::F64(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Time(b) => Arc::new(b.finish()),
            Column::Str(b) => Arc::new(b.finish()),
            Column::I32(b) => Arc::new(b.finish()),
            Column::I64(b) => Arc::new(b.finish()),
            Column::F64(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
        }
    }
}

/// How much text a buffer of `rows` rows held, per column ([`Rows::text_sizes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextSizes {
    pub rows: usize,
    pub bytes: Vec<usize>,
}

/// A columnar buffer of lake rows.
pub struct Rows {
    columns: Vec<Column>,
    len: usize,
}

impl Rows {
    /// An empty buffer with room for `rows` rows (and 16 bytes per text value).
    pub fn with_capacity(rows: usize) -> Rows {
        Rows::with_capacity_like(rows, None)
    }

    /// An empty buffer with room for `rows` rows, each text column sized after `like`: the
    /// [`TextSizes`] of an earlier buffer, scaled to `rows` with an eighth to spare. A text buffer
    /// that has to grow doubles and copies what it holds; sized from the last chunk of the same
    /// input, it rarely has to.
    pub fn with_capacity_like(rows: usize, like: Option<&TextSizes>) -> Rows {
        let text = |i: usize| match like {
            Some(t) if t.rows > 0 => {
                let per_row = t.bytes.get(i).copied().unwrap_or(0) as f64 / t.rows as f64;
                (per_row * rows as f64 * 1.125) as usize
            }
            _ => rows * 16,
        };
        Rows {
            columns: lake_fields()
                .enumerate()
                .map(|(i, f)| Column::new(f.kind, rows, text(i)))
                .collect(),
            len: 0,
        }
    }

    /// The text bytes each column holds now, a sizing hint for the next buffer.
    pub fn text_sizes(&self) -> TextSizes {
        let bytes = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Str(b) => b.values_slice().len(),
                _ => 0,
            })
            .collect();
        TextSizes {
            rows: self.len,
            bytes,
        }
    }

    /// Appends one row.
    pub fn push(&mut self, record: &Record<'_>, enrichment: &Enrichment<'_>, prov: Provenance) {
        // Three plain loops over fixed-size arrays: a chained iterator re-checked which part it
        // was in on every value.
        let (r, rest) = self.columns.split_at_mut(Record::FIELDS.len());
        let (e, p) = rest.split_at_mut(Enrichment::FIELDS.len());
        for (c, v) in r.iter_mut().zip(record.values()) {
            c.append(v);
        }
        for (c, v) in e.iter_mut().zip(enrichment.values()) {
            c.append(v);
        }
        for (c, v) in p.iter_mut().zip(prov.values()) {
            c.append(v);
        }
        self.len += 1;
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The buffered rows as one batch; the buffer is left empty.
    pub fn finish(&mut self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        self.len = 0;
        RecordBatch::try_new(lake_schema(), arrays)
            .expect("builders follow the schema they were made from")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_record_then_enrichment_then_provenance() {
        let s = lake_schema();
        let n = Record::FIELDS.len() + Enrichment::FIELDS.len() + Provenance::FIELDS.len();
        assert_eq!(s.fields().len(), n);
        assert_eq!(s.field(0).name(), "time");
        assert_eq!(
            s.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            s.field_with_name("status").unwrap().data_type(),
            &DataType::Int32
        );
        assert_eq!(
            s.field_with_name("bytes").unwrap().data_type(),
            &DataType::Int64
        );
        assert_eq!(s.field(n - 2).name(), "src_partition");
        assert_eq!(s.field(n - 1).name(), "src_offset");
        assert_eq!(s.field(Record::FIELDS.len()).name(), "country_code");
    }

    #[test]
    fn text_columns_are_sized_after_an_earlier_buffer() {
        let line = br#"1.2.3.4 - - [22/Jan/2019:03:56:14 +0000] "GET /a HTTP/1.1" 200 3 "-" "UA""#;
        let record = accesslake_transform::parse_line(line).unwrap();
        let e = Enrichment::default();
        let mut rows = Rows::with_capacity(4);
        for i in 0..4 {
            let prov = Provenance {
                src_partition: 0,
                src_offset: i,
            };
            rows.push(&record, &e, prov);
        }
        let sizes = rows.text_sizes();
        let at = |name: &str| lake_fields().position(|f| f.name == name).unwrap();
        assert_eq!(sizes.rows, 4);
        assert_eq!(sizes.bytes[at("client_ip")], 4 * "1.2.3.4".len());
        assert_eq!(sizes.bytes[at("status")], 0, "not a text column");
        assert_eq!(sizes.bytes[at("request")], 4 * "GET /a HTTP/1.1".len());
        assert!(Rows::with_capacity_like(40, Some(&sizes)).is_empty());
    }
}
