//! Protobuf wire format: a decoder that never panics on malformed input, and a small encoder
//! used to build ONNX files in tests.
//!
//! Only what ONNX needs is implemented: varints, fixed 64-bit, length-delimited and fixed
//! 32-bit fields. Groups (wire types 3 and 4) are rejected as errors.

/// Why a byte buffer is not valid protobuf. `offset` is relative to the start of the buffer
/// handed to the [`Reader`] that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} at byte {offset}")]
pub struct WireError {
    /// Byte offset of the problem.
    pub offset: usize,
    /// What is wrong there.
    pub problem: WireProblem,
}

/// What is wrong in a protobuf buffer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireProblem {
    #[error("truncated varint")]
    TruncatedVarint,
    #[error("varint longer than 64 bits")]
    VarintOverflow,
    #[error("varint longer than 10 bytes")]
    VarintTooLong,
    #[error("truncated {0}-byte field")]
    TruncatedFixed(usize),
    #[error("invalid field number {0}")]
    FieldNumber(u64),
    #[error("field {field}: length {len} runs past the end ({left} bytes left)")]
    Length { field: u32, len: u64, left: usize },
    #[error("field {field}: unsupported wire type {wire_type}")]
    WireType { field: u32, wire_type: u64 },
    #[error("field {field}: packed {kind} length {len} is not a multiple of {width}")]
    Packed { field: u32, kind: &'static str, len: usize, width: usize },
    #[error("field {field}: expected {expected}, found {found}")]
    WrongType { field: u32, expected: &'static str, found: &'static str },
}

impl WireError {
    fn new(offset: usize, problem: WireProblem) -> Self {
        Self { offset, problem }
    }
}

/// The value of one decoded field, tagged by wire type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1 (fixed64, sfixed64, double).
    Fixed64(u64),
    /// Wire type 2 (bytes, string, sub-message, packed repeated scalars).
    Bytes(&'a [u8]),
    /// Wire type 5 (fixed32, sfixed32, float).
    Fixed32(u32),
}

impl Value<'_> {
    /// Name of the wire type, for error messages.
    pub fn wire_name(&self) -> &'static str {
        match self {
            Value::Varint(_) => "varint",
            Value::Fixed64(_) => "fixed64",
            Value::Bytes(_) => "length-delimited",
            Value::Fixed32(_) => "fixed32",
        }
    }
}

/// Reads a varint starting at `*pos`, advancing `*pos` past it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let start = *pos;
    let mut value: u64 = 0;
    for i in 0..10 {
        let Some(&byte) = buf.get(*pos) else {
            return Err(WireError::new(start, WireProblem::TruncatedVarint));
        };
        *pos += 1;
        if i == 9 && byte > 1 {
            return Err(WireError::new(start, WireProblem::VarintOverflow));
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::new(start, WireProblem::VarintTooLong))
}

fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize) -> Result<[u8; N], WireError> {
    let start = *pos;
    let bytes = start
        .checked_add(N)
        .and_then(|end| buf.get(start..end))
        .ok_or_else(|| WireError::new(start, WireProblem::TruncatedFixed(N)))?;
    *pos += N;
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    Ok(out)
}

/// Iterates over the fields of one message. Each call to [`Reader::next_field`] consumes
/// exactly one field; unknown fields are skipped simply by ignoring the returned value.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the whole of `buf`, which must hold exactly one message.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Current byte offset.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next `(field number, value)`, or `None` at the end of the buffer.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, WireError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag_at = self.pos;
        let tag = read_varint(self.buf, &mut self.pos)?;
        let field = tag >> 3;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(WireError::new(tag_at, WireProblem::FieldNumber(field)));
        }
        let field = field as u32;
        let value = match tag & 7 {
            0 => Value::Varint(read_varint(self.buf, &mut self.pos)?),
            1 => Value::Fixed64(u64::from_le_bytes(read_fixed::<8>(self.buf, &mut self.pos)?)),
            2 => {
                let len_at = self.pos;
                let len = read_varint(self.buf, &mut self.pos)?;
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| self.pos.checked_add(len))
                    .filter(|&end| end <= self.buf.len())
                    .ok_or_else(|| {
                        WireError::new(
                            len_at,
                            WireProblem::Length { field, len, left: self.buf.len() - self.pos },
                        )
                    })?;
                let bytes = &self.buf[self.pos..end];
                self.pos = end;
                Value::Bytes(bytes)
            }
            5 => Value::Fixed32(u32::from_le_bytes(read_fixed::<4>(self.buf, &mut self.pos)?)),
            other => {
                return Err(WireError::new(tag_at, WireProblem::WireType { field, wire_type: other }));
            }
        };
        Ok(Some((field, value)))
    }
}

/// Appends the varints of a repeated integer field, packed (`Bytes`) or not (`Varint`).
pub fn push_varints(field: u32, value: Value<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match value {
        Value::Varint(v) => out.push(v),
        Value::Bytes(bytes) => {
            let mut pos = 0;
            while pos < bytes.len() {
                out.push(read_varint(bytes, &mut pos)?);
            }
        }
        other => return Err(wrong_type(field, "varint", other)),
    }
    Ok(())
}

/// Appends the words of a repeated fixed32 field (float), packed or not.
pub fn push_fixed32(field: u32, value: Value<'_>, out: &mut Vec<u32>) -> Result<(), WireError> {
    match value {
        Value::Fixed32(v) => out.push(v),
        Value::Bytes(bytes) => {
            if bytes.len() % 4 != 0 {
                return Err(WireError::new(
                    0,
                    WireProblem::Packed { field, kind: "fixed32", len: bytes.len(), width: 4 },
                ));
            }
            out.extend(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
        }
        other => return Err(wrong_type(field, "fixed32", other)),
    }
    Ok(())
}

/// Appends the words of a repeated fixed64 field (double), packed or not.
pub fn push_fixed64(field: u32, value: Value<'_>, out: &mut Vec<u64>) -> Result<(), WireError> {
    match value {
        Value::Fixed64(v) => out.push(v),
        Value::Bytes(bytes) => {
            if bytes.len() % 8 != 0 {
                return Err(WireError::new(
                    0,
                    WireProblem::Packed { field, kind: "fixed64", len: bytes.len(), width: 8 },
                ));
            }
            out.extend(bytes.chunks_exact(8).map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            }));
        }
        other => return Err(wrong_type(field, "fixed64", other)),
    }
    Ok(())
}

/// The error for a field found with an unexpected wire type.
pub fn wrong_type(field: u32, expected: &'static str, got: Value<'_>) -> WireError {
    WireError::new(0, WireProblem::WrongType { field, expected, found: got.wire_name() })
}

/// Builds one protobuf message. Nested messages are built with their own `Writer` and added
/// with [`Writer::message`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoded message.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The encoded message so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Appends raw bytes as they are (for building deliberately malformed input).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    fn put_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire_type: u8) {
        self.put_varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    /// A varint field (uint64/uint32/enum/bool).
    pub fn varint(&mut self, field: u32, v: u64) -> &mut Self {
        self.tag(field, 0);
        self.put_varint(v);
        self
    }

    /// An int64/int32 field (negative values take 10 bytes, as protobuf specifies).
    pub fn int64(&mut self, field: u32, v: i64) -> &mut Self {
        self.varint(field, v as u64)
    }

    /// A fixed32 field.
    pub fn fixed32(&mut self, field: u32, v: u32) -> &mut Self {
        self.tag(field, 5);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A float field.
    pub fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.fixed32(field, v.to_bits())
    }

    /// A fixed64 field.
    pub fn fixed64(&mut self, field: u32, v: u64) -> &mut Self {
        self.tag(field, 1);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A double field.
    pub fn double(&mut self, field: u32, v: f64) -> &mut Self {
        self.fixed64(field, v.to_bits())
    }

    /// A bytes field.
    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.tag(field, 2);
        self.put_varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    /// A string field.
    pub fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    /// A sub-message field.
    pub fn message(&mut self, field: u32, m: &Writer) -> &mut Self {
        self.bytes(field, &m.buf)
    }

    /// A packed repeated int64 field.
    pub fn packed_int64(&mut self, field: u32, values: &[i64]) -> &mut Self {
        let mut inner = Writer::new();
        for &v in values {
            inner.put_varint(v as u64);
        }
        self.bytes(field, &inner.buf)
    }

    /// A packed repeated float field.
    pub fn packed_floats(&mut self, field: u32, values: &[f32]) -> &mut Self {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(field, &bytes)
    }

    /// A packed repeated double field.
    pub fn packed_doubles(&mut self, field: u32, values: &[f64]) -> &mut Self {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(field, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, Value<'_>)>, WireError> {
        let mut r = Reader::new(buf);
        let mut out = Vec::new();
        while let Some(f) = r.next_field()? {
            out.push(f);
        }
        Ok(out)
    }

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut w = Writer::new();
            w.varint(1, v);
            let bytes = w.into_bytes();
            assert_eq!(fields(&bytes).unwrap(), vec![(1, Value::Varint(v))], "value {v}");
        }
    }

    #[test]
    fn all_wire_types_round_trip() {
        let mut sub = Writer::new();
        sub.string(2, "inner");
        let mut w = Writer::new();
        w.int64(1, -5)
            .float(2, 1.5)
            .double(3, -2.25)
            .string(4, "héllo")
            .message(5, &sub)
            .varint(536_870_911, 7);
        let bytes = w.into_bytes();
        let f = fields(&bytes).unwrap();
        assert_eq!(f[0], (1, Value::Varint(-5i64 as u64)));
        assert_eq!(f[1], (2, Value::Fixed32(1.5f32.to_bits())));
        assert_eq!(f[2], (3, Value::Fixed64((-2.25f64).to_bits())));
        assert_eq!(f[3], (4, Value::Bytes("héllo".as_bytes())));
        let Value::Bytes(inner) = f[4].1 else { panic!("sub-message") };
        assert_eq!(fields(inner).unwrap(), vec![(2, Value::Bytes(b"inner"))]);
        assert_eq!(f[5], (536_870_911, Value::Varint(7)));
    }

    #[test]
    fn packed_and_unpacked_repeated() {
        let mut w = Writer::new();
        w.packed_int64(7, &[1, -2, 300]).int64(7, 4);
        w.packed_floats(4, &[0.5, -1.0]).float(4, 3.0);
        w.packed_doubles(10, &[1e300]).double(10, -0.5);
        let bytes = w.into_bytes();
        let (mut ints, mut floats, mut doubles) = (Vec::new(), Vec::new(), Vec::new());
        for (field, value) in fields(&bytes).unwrap() {
            match field {
                7 => push_varints(field, value, &mut ints).unwrap(),
                4 => push_fixed32(field, value, &mut floats).unwrap(),
                10 => push_fixed64(field, value, &mut doubles).unwrap(),
                _ => unreachable!(),
            }
        }
        assert_eq!(ints.iter().map(|&v| v as i64).collect::<Vec<_>>(), vec![1, -2, 300, 4]);
        assert_eq!(floats.iter().map(|&v| f32::from_bits(v)).collect::<Vec<_>>(), vec![0.5, -1.0, 3.0]);
        assert_eq!(doubles.iter().map(|&v| f64::from_bits(v)).collect::<Vec<_>>(), vec![1e300, -0.5]);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x08], "truncated varint"),       // tag, no value
            (&[0x08, 0x80], "truncated varint"), // unfinished value
            (&[0x80], "truncated varint"),       // unfinished tag
            (&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "64 bits"),
            (&[0x12, 0x05, b'a'], "runs past the end"), // length past end
            (&[0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], "runs past the end"),
            (&[0x0b], "wire type 3"),
            (&[0x0c], "wire type 4"),
            (&[0x0e], "wire type 6"),
            (&[0x0f], "wire type 7"),
            (&[0x00, 0x01], "field number 0"),
            (&[0x09, 1, 2, 3], "truncated 8-byte"),
            (&[0x0d, 1, 2], "truncated 4-byte"),
        ];
        for (bytes, expected) in cases {
            let err = fields(bytes).expect_err(expected);
            assert!(err.to_string().contains(expected), "{bytes:?}: {err}");
        }
        let mut out = Vec::new();
        assert!(push_varints(1, Value::Bytes(&[0x80]), &mut out).is_err());
        assert!(push_fixed32(1, Value::Bytes(&[1, 2, 3]), &mut Vec::new()).is_err());
        assert!(push_fixed64(1, Value::Bytes(&[1, 2, 3]), &mut Vec::new()).is_err());
        assert!(push_varints(1, Value::Fixed32(0), &mut out).is_err());
    }

    #[test]
    fn every_prefix_errors_or_ends_cleanly() {
        let mut sub = Writer::new();
        sub.packed_floats(4, &[1.0, 2.0]).string(8, "w");
        let mut w = Writer::new();
        w.int64(1, -1).message(7, &sub).double(3, 1.0);
        let bytes = w.into_bytes();
        let boundaries = [0, 11, 11 + 2 + sub.as_bytes().len(), bytes.len()];
        for n in 0..=bytes.len() {
            let result = fields(&bytes[..n]);
            assert_eq!(result.is_ok(), boundaries.contains(&n), "prefix {n}: {result:?}");
        }
    }
}
