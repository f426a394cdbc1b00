//! The records that cross the Redpanda transform ABI and their wire payload.
//!
//! A record payload is the tail of a Kafka v2 record after its offset delta: the key, the value
//! and the headers, each byte string prefixed by its length as a zigzag varint (`-1` = null),
//! the header count a zigzag varint. This is what `read_next_record` hands the guest and what
//! `write_record` takes back; [`decode_payload`] validates exactly as Redpanda's
//! `model::validate_record_payload` does (lengths ≥ -1, header count ≥ 0, no trailing bytes).

use std::sync::Arc;

/// A record header. Kafka header keys are never null; a null key from a guest decodes as empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

impl Header {
    pub fn new(key: impl Into<Vec<u8>>, value: Option<impl Into<Vec<u8>>>) -> Self {
        Self {
            key: key.into(),
            value: value.map(Into::into),
        }
    }
}

/// A record of the input topic, as the broker hands it to the transform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// Offset in the input partition (passed to the guest, otherwise unused).
    pub offset: i64,
    /// Create time, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl InputRecord {
    /// A record with only a value.
    pub fn with_value(value: impl Into<Vec<u8>>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

impl InputRecord {
    /// The size of this record's payload ([`encode_payload`]).
    pub fn payload_len(&self) -> usize {
        let sized = |b: Option<&[u8]>| b.map_or(1, |b| varint_len(b.len() as i64) + b.len());
        sized(self.key.as_deref())
            + sized(self.value.as_deref())
            + varint_len(self.headers.len() as i64)
            + self
                .headers
                .iter()
                .map(|h| sized(Some(&h.key)) + sized(h.value.as_deref()))
                .sum::<usize>()
    }
}

/// A record the transform wrote, with the output topic it was routed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    /// Index of the topic in the host's output topic list (0 = the default output).
    pub topic_index: usize,
    pub topic: Arc<str>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Payload>,
    pub headers: Vec<Header>,
}

/// An output value: a range of the buffer its batch's values were copied into, shared by the
/// batch's records (as a broker appends them to one batch), so an output record costs no
/// allocation of its own. Compares and prints as its bytes.
#[derive(Clone)]
pub struct Payload {
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl Payload {
    /// The value at `start..end` of a batch's shared buffer.
    pub(crate) fn in_buffer(buf: &Arc<Vec<u8>>, start: usize, end: usize) -> Self {
        assert!(
            start <= end && end <= buf.len(),
            "payload range out of its buffer"
        );
        Self {
            buf: Arc::clone(buf),
            start,
            end,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        let end = v.len();
        Self {
            buf: Arc::new(v),
            start: 0,
            end,
        }
    }
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Payload {}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl OutputRecord {
    /// The value of the first header named `key`, if any.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.key == key.as_bytes())
            .and_then(|h| h.value.as_deref())
    }
}

/// A payload that is not a valid record encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("varint runs past the end of the payload")]
    ShortVarint,
    #[error("varint is longer than 10 bytes")]
    VarintOverflow,
    #[error("length {0} is invalid (must be >= -1)")]
    BadLength(i64),
    #[error("header count {0} is negative")]
    BadHeaderCount(i64),
    #[error("{need} bytes announced, {left} left")]
    Short { need: i64, left: usize },
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
}

/// Appends `v` as a zigzag varint.
pub fn write_varint(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        out.push(u as u8 | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// The bytes [`write_varint`] takes for `v`.
pub fn varint_len(v: i64) -> usize {
    let u = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (u | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a zigzag varint from the front of `buf`, returning it and the bytes consumed.
pub fn read_varint(buf: &[u8]) -> Result<(i64, usize), PayloadError> {
    let mut u: u64 = 0;
    for (i, &b) in buf.iter().enumerate() {
        if i >= 10 {
            return Err(PayloadError::VarintOverflow);
        }
        u |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((((u >> 1) as i64) ^ -((u & 1) as i64), i + 1));
        }
    }
    Err(PayloadError::ShortVarint)
}

/// Appends a length-prefixed byte string (`None` = length -1).
pub fn write_sized(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            write_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
        None => write_varint(out, -1),
    }
}

/// Reads a length-prefixed byte string from the front of `buf`.
pub fn read_sized(buf: &[u8]) -> Result<(Option<&[u8]>, usize), PayloadError> {
    let (len, n) = read_varint(buf)?;
    match len {
        -1 => Ok((None, n)),
        l if l < -1 => Err(PayloadError::BadLength(l)),
        l => {
            let rest = &buf[n..];
            if l as u64 > rest.len() as u64 {
                return Err(PayloadError::Short {
                    need: l,
                    left: rest.len(),
                });
            }
            Ok((Some(&rest[..l as usize]), n + l as usize))
        }
    }
}

/// Appends the payload of a record.
pub fn encode_payload(
    out: &mut Vec<u8>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) {
    write_sized(out, key);
    write_sized(out, value);
    write_varint(out, headers.len() as i64);
    for h in headers {
        write_sized(out, Some(&h.key));
        write_sized(out, h.value.as_deref());
    }
}

/// The key and value of a decoded payload (borrowed from it) and its headers.
pub type Decoded<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Vec<Header>);

/// Decodes and validates a whole record payload.
pub fn decode_payload(mut buf: &[u8]) -> Result<Decoded<'_>, PayloadError> {
    fn next<'a>(buf: &mut &'a [u8]) -> Result<Option<&'a [u8]>, PayloadError> {
        let (bytes, n) = read_sized(buf)?;
        *buf = &buf[n..];
        Ok(bytes)
    }
    let key = next(&mut buf)?;
    let value = next(&mut buf)?;
    let (count, n) = read_varint(buf)?;
    buf = &buf[n..];
    if count < 0 {
        return Err(PayloadError::BadHeaderCount(count));
    }
    let mut headers = Vec::new();
    for _ in 0..count {
        let key = next(&mut buf)?.unwrap_or_default().to_vec();
        let value = next(&mut buf)?.map(<[u8]>::to_vec);
        headers.push(Header { key, value });
    }
    if !buf.is_empty() {
        return Err(PayloadError::Trailing(buf.len()));
    }
    Ok((key, value, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_kafka_zigzag() {
        // Values from the Kafka protocol guide's zigzag table.
        for (v, bytes) in [
            (0i64, vec![0u8]),
            (-1, vec![1]),
            (1, vec![2]),
            (-2, vec![3]),
            (64, vec![0x80, 1]),
        ] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out, bytes);
            assert_eq!(varint_len(v), out.len());
            assert_eq!(read_varint(&out).unwrap(), (v, bytes.len()));
        }
        for v in [i64::MIN, i64::MAX, 300, -300, 63, -64, 8191, -8192, 8192] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(read_varint(&out).unwrap().0, v);
            assert_eq!(varint_len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn a_payload_is_its_range_of_the_buffer() {
        let buf = Arc::new(b"abcdef".to_vec());
        let p = Payload::in_buffer(&buf, 1, 4);
        assert_eq!(&*p, b"bcd");
        assert_eq!(p, Payload::from(b"bcd".to_vec()));
        assert_ne!(p, Payload::in_buffer(&buf, 1, 3));
        assert_eq!(format!("{p:?}"), format!("{:?}", b"bcd"));
        drop(buf);
        assert_eq!(p.to_vec(), b"bcd", "the range keeps the buffer alive");
    }

    #[test]
    #[should_panic(expected = "out of its buffer")]
    fn a_payload_range_must_lie_in_its_buffer() {
        Payload::in_buffer(&Arc::new(vec![0; 4]), 2, 5);
    }

    #[test]
    fn payload_round_trips_and_rejects_garbage() {
        let headers = vec![
            Header::new("a", Some("b")),
            Header::new("n", None::<Vec<u8>>),
        ];
        let mut buf = Vec::new();
        encode_payload(&mut buf, None, Some(b""), &headers);
        assert_eq!(
            decode_payload(&buf).unwrap(),
            (None, Some(&b""[..]), headers.clone())
        );
        let record = InputRecord {
            key: Some(vec![7; 200]),
            value: None,
            headers,
            ..InputRecord::default()
        };
        let mut sized = Vec::new();
        encode_payload(&mut sized, record.key.as_deref(), None, &record.headers);
        assert_eq!(record.payload_len(), sized.len());
        assert_eq!(
            InputRecord::with_value(vec![1; 70]).payload_len(),
            1 + 2 + 70 + 1
        );
        assert!(matches!(
            decode_payload(&[buf.as_slice(), &[0]].concat()),
            Err(PayloadError::Trailing(1))
        ));
        assert!(decode_payload(&buf[..buf.len() - 1]).is_err());
        assert!(matches!(
            decode_payload(&[3]),
            Err(PayloadError::BadLength(-2))
        ));
        assert!(matches!(
            decode_payload(&[1, 1, 1]),
            Err(PayloadError::BadHeaderCount(-1))
        ));
    }
}
