//! The lake's row schema and a columnar row buffer.
//!
//! A lake row is a parsed [`Record`] ++ its [`Enrichment`] ++ its [`Provenance`]; the column list
//! is derived from the three `schema!` declarations ([`lake_fields`]), never written out twice.
//! [`Rows`] appends rows straight into one growing buffer set per column (no per-row allocation)
//! and [`Rows::finish`] hands those buffers to Arrow arrays, without a copy, as a `RecordBatch`
//! for the [`crate::writer`].
//! Types: `time` is `Timestamp(Microsecond, "UTC")`, `Int32`/`Int64`/`Float64`/`Boolean`/`Utf8`
//! otherwise, per each field's [`Kind`].

use crate::enrich::Enrichment;
use accesslake_transform::{Field, Kind, Record, Value};
use arrow::array::{ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray, StringArray};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType,
};
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

/// Which values of a column are present: one byte per row while rows are appended (a push is a
/// store and an add), packed into a validity bitmap by [`Validity::finish`], and no bitmap at all
/// when every value is present.
#[derive(Default)]
struct Validity {
    present: Vec<bool>,
    nulls: usize,
}

impl Validity {
    fn with_capacity(rows: usize) -> Validity {
        Validity {
            present: Vec::with_capacity(rows),
            nulls: 0,
        }
    }

    #[inline]
    fn push(&mut self, present: bool) {
        self.present.push(present);
        self.nulls += usize::from(!present);
    }

    fn finish(&mut self) -> Option<NullBuffer> {
        let present = std::mem::take(&mut self.present);
        (std::mem::take(&mut self.nulls) > 0).then(|| NullBuffer::from(present))
    }
}

/// A `Utf8` column under construction: the values' bytes back to back, the offsets between
/// them, and their validity, in plain vectors that become the array's buffers without a copy.
/// (arrow's `StringBuilder` spent about 90 instructions per value here.)
struct Text {
    bytes: Vec<u8>,
    /// `offsets[i]..offsets[i + 1]` is value `i`; starts with 0.
    offsets: Vec<i32>,
    validity: Validity,
}

impl Text {
    fn with_capacity(rows: usize, text: usize) -> Text {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Text {
            bytes: Vec::with_capacity(text),
            offsets,
            validity: Validity::with_capacity(rows),
        }
    }

    #[inline]
    fn push(&mut self, s: Option<&str>) {
        if let Some(s) = s {
            self.bytes.extend_from_slice(s.as_bytes());
        }
        // The limit of a `Utf8` array (and of arrow's `StringBuilder`): 2 GiB of text. A buffer
        // holds one ingest chunk (about 1 MiB of lines and at most one line over it, none over
        // `--max-line-bytes`, at most 256 MiB, whose bytes that are not UTF-8 take four bytes
        // each as `\xHH`: about 1 GiB at worst) or one window's pushed rows, flushed at
        // `WindowSettings::max_text_bytes` (at most 512 MiB) before a record of at most 1 GiB
        // (`run` refuses a larger `receive.message.max.bytes`) is added.
        let end = i32::try_from(self.bytes.len()).expect("under 2 GiB of text per column buffer");
        self.offsets.push(end);
        self.validity.push(s.is_some());
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let bytes = std::mem::take(&mut self.bytes);
        let nulls = self.validity.finish();
        // SAFETY: the offsets start at 0, never decrease (each is the byte count after a push)
        // and end at `bytes.len()`, and every range between two of them is one `&str` appended
        // whole, so it is UTF-8. `text_column_is_a_valid_string_array` checks this with arrow's
        // full validation.
        let array = unsafe {
            let offsets = OffsetBuffer::new_unchecked(ScalarBuffer::from(offsets));
            StringArray::new_unchecked(offsets, Buffer::from_vec(bytes), nulls)
        };
        Arc::new(array)
    }
}

/// A fixed-width column under construction: values and validity in plain vectors (a null's
/// slot holds the type's default).
struct Fixed<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    validity: Validity,
}

impl<T: ArrowPrimitiveType> Fixed<T> {
    fn with_capacity(rows: usize) -> Fixed<T> {
        Fixed {
            values: Vec::with_capacity(rows),
            validity: Validity::with_capacity(rows),
        }
    }

    #[inline]
    fn push(&mut self, v: Option<T::Native>) {
        self.values.push(v.unwrap_or_default());
        self.validity.push(v.is_some());
    }

    fn finish(&mut self) -> PrimitiveArray<T> {
        let values = ScalarBuffer::from(std::mem::take(&mut self.values));
        PrimitiveArray::new(values, self.validity.finish())
    }
}

/// A boolean column under construction: one byte per value until [`Flags::finish`] packs them.
struct Flags {
    values: Vec<bool>,
    validity: Validity,
}

impl Flags {
    fn with_capacity(rows: usize) -> Flags {
        Flags {
            values: Vec::with_capacity(rows),
            validity: Validity::with_capacity(rows),
        }
    }

    #[inline]
    fn push(&mut self, v: Option<bool>) {
        self.values.push(v.unwrap_or_default());
        self.validity.push(v.is_some());
    }

    fn finish(&mut self) -> BooleanArray {
        let values = BooleanBuffer::from(std::mem::take(&mut self.values));
        BooleanArray::new(values, self.validity.finish())
    }
}

enum Column {
    Time(Fixed<TimestampMicrosecondType>),
    Str(Text),
    I32(Fixed<Int32Type>),
    I64(Fixed<Int64Type>),
    F64(Fixed<Float64Type>),
    Bool(Flags),
}

impl Column {
    /// A column with room for `rows` values; a text column also for `text` bytes.
    fn new(kind: Kind, rows: usize, text: usize) -> Column {
        match kind {
            Kind::Timestamp => Column::Time(Fixed::with_capacity(rows)),
            Kind::Str => Column::Str(Text::with_capacity(rows, text)),
            Kind::Int32 => Column::I32(Fixed::with_capacity(rows)),
            Kind::Int64 => Column::I64(Fixed::with_capacity(rows)),
            Kind::Float64 => Column::F64(Fixed::with_capacity(rows)),
            Kind::Bool => Column::Bool(Flags::with_capacity(rows)),
        }
    }

    // Forced into `Rows::push`'s loops: as a call, its prologue, epilogue and dispatch cost about
    // 300 instructions per row (cachegrind).
    #[inline(always)]
    fn append(&mut self, v: Value<'_>) {
        match (self, v) {
            (Column::Time(c), Value::Timestamp(t)) => c.push(Some(t)),
            (Column::Str(c), Value::Str(s)) => c.push(s),
            (Column::I32(c), Value::Int(i)) => c.push(i.and_then(|i| i32::try_from(i).ok())),
            (Column::I64(c), Value::Int(i)) => c.push(i),
            (Column::F64(c), Value::Float(f)) => c.push(f),
            (Column::Bool(c), Value::Bool(x)) => c.push(x),
            // Kinds and values both derive from the same declarations: unreachable in practice,
            // and a null is the honest value if it ever happens.
            (c, _) => c.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Column::Time(c) => c.push(None),
            Column::Str(c) => c.push(None),
            Column::I32(c) => c.push(None),
            Column::I64(c) => c.push(None),
            Column::F64(c) => c.push(None),
            Column::Bool(c) => c.push(None),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Time(c) => Arc::new(c.finish().with_timezone("UTC")),
            Column::Str(c) => c.finish(),
            Column::I32(c) => Arc::new(c.finish()),
            Column::I64(c) => Arc::new(c.finish()),
            Column::F64(c) => Arc::new(c.finish()),
            Column::Bool(c) => Arc::new(c.finish()),
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
        Rows::with_capacity_like(rows, rows.saturating_mul(16), None)
    }

    /// An empty buffer with room for `rows` rows, each text column sized after `like`: the
    /// [`TextSizes`] of an earlier buffer, scaled to `rows` with an eighth to spare, and never
    /// more than `max_text` bytes (the size of the input the rows come from: one long line in
    /// the earlier buffer must not make every row of this one look long). A text buffer that
    /// has to grow doubles and copies what it holds; sized from the last chunk of the same
    /// input, it rarely has to.
    pub fn with_capacity_like(rows: usize, max_text: usize, like: Option<&TextSizes>) -> Rows {
        let text = |i: usize| match like {
            Some(t) if t.rows > 0 => {
                let per_row = t.bytes.get(i).copied().unwrap_or(0) as f64 / t.rows as f64;
                ((per_row * rows as f64 * 1.125) as usize).min(max_text)
            }
            _ => (rows * 16).min(max_text),
        };
        Rows {
            columns: lake_fields()
                .enumerate()
                .map(|(i, f)| Column::new(f.kind, rows, text(i)))
                .collect(),
            len: 0,
        }
    }

    /// The text bytes each column holds (0 for a column that is not text).
    fn text_lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.columns.iter().map(|c| match c {
            Column::Str(c) => c.bytes.len(),
            _ => 0,
        })
    }

    /// The most text bytes any one column holds.
    pub fn largest_text(&self) -> usize {
        self.text_lens().max().unwrap_or(0)
    }

    /// The text bytes each column holds now, a sizing hint for the next buffer.
    pub fn text_sizes(&self) -> TextSizes {
        let bytes = self.text_lens().collect();
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
    fn text_column_is_a_valid_string_array() {
        use arrow::array::Array;
        // Values with multi-byte characters, empty strings and nulls, over two finishes (the
        // buffers are reset in between), checked by arrow's full validation (offsets and UTF-8).
        let values = [
            Some("déjà"),
            None,
            Some(""),
            Some("ü/ß?x=€"),
            None,
            Some("a"),
        ];
        let mut text = Text::with_capacity(2, 0);
        for round in 0..2 {
            for v in &values[round..] {
                text.push(*v);
            }
            let array = text.finish();
            array.to_data().validate_full().unwrap();
            let strings = array.as_any().downcast_ref::<StringArray>().unwrap();
            let got: Vec<Option<&str>> = strings.iter().collect();
            assert_eq!(got, values[round..].to_vec());
            let nulls = values[round..].iter().filter(|v| v.is_none()).count();
            assert_eq!(strings.null_count(), nulls);
        }
        let mut all_present = Text::with_capacity(1, 1);
        all_present.push(Some("x"));
        assert!(
            all_present.finish().nulls().is_none(),
            "no bitmap without a null"
        );
    }

    #[test]
    fn fixed_and_bool_columns_keep_values_and_nulls() {
        let mut ints = Column::new(Kind::Int32, 1, 0);
        let mut flags = Column::new(Kind::Bool, 1, 0);
        for (i, b) in [
            (Some(7), Some(true)),
            (None, None),
            (Some(1 << 40), Some(false)),
        ] {
            ints.append(Value::Int(i));
            flags.append(Value::Bool(b));
        }
        let ints = ints.finish();
        ints.to_data().validate_full().unwrap();
        let ints = ints
            .as_any()
            .downcast_ref::<arrow::array::Int32Array>()
            .unwrap();
        // Out of range for Int32 is a null, as before.
        assert_eq!(ints.iter().collect::<Vec<_>>(), [Some(7), None, None]);
        let flags = flags.finish();
        flags.to_data().validate_full().unwrap();
        let flags = flags.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(
            flags.iter().collect::<Vec<_>>(),
            [Some(true), None, Some(false)]
        );
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
        assert!(Rows::with_capacity_like(40, 1 << 20, Some(&sizes)).is_empty());
        // One long value among few rows does not size the next buffer's every row after it.
        let long = TextSizes {
            rows: 2,
            bytes: vec![1 << 30; sizes.bytes.len()],
        };
        let next = Rows::with_capacity_like(5_000, 1 << 20, Some(&long));
        let reserved = next.columns.iter().map(|c| match c {
            Column::Str(t) => t.bytes.capacity(),
            _ => 0,
        });
        assert!(reserved.max().unwrap() <= 1 << 20);
    }
}
