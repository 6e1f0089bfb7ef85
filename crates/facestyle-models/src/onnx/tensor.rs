//! ONNX `TensorProto`: decoding into a [`Tensor`] with typed values.

use super::error::{OnnxError, Part, Result};
use super::wire::{self, Reader, Value};

/// ONNX `TensorProto.DataType` codes this reader understands.
pub mod data_type {
    /// 32-bit float.
    pub const FLOAT: i32 = 1;
    /// Unsigned 8-bit integer.
    pub const UINT8: i32 = 2;
    /// Signed 8-bit integer.
    pub const INT8: i32 = 3;
    /// Signed 32-bit integer.
    pub const INT32: i32 = 6;
    /// Signed 64-bit integer.
    pub const INT64: i32 = 7;
    /// IEEE half precision (read as f32).
    pub const FLOAT16: i32 = 10;
    /// 64-bit float (read as f32).
    pub const DOUBLE: i32 = 11;

    /// The ONNX name of a data type code, for error messages.
    pub fn name(code: i32) -> &'static str {
        match code {
            0 => "UNDEFINED",
            1 => "FLOAT",
            2 => "UINT8",
            3 => "INT8",
            4 => "UINT16",
            5 => "INT16",
            6 => "INT32",
            7 => "INT64",
            8 => "STRING",
            9 => "BOOL",
            10 => "FLOAT16",
            11 => "DOUBLE",
            12 => "UINT32",
            13 => "UINT64",
            14 => "COMPLEX64",
            15 => "COMPLEX128",
            16 => "BFLOAT16",
            17..=20 => "FLOAT8",
            21 => "UINT4",
            22 => "INT4",
            23 => "FLOAT4E2M1",
            _ => "unknown",
        }
    }
}

/// The values of a tensor. FLOAT16 and DOUBLE tensors are converted to `F32` when read.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorValues {
    /// FLOAT, FLOAT16 and DOUBLE tensors.
    F32(Vec<f32>),
    /// INT64 tensors.
    I64(Vec<i64>),
    /// INT32 tensors.
    I32(Vec<i32>),
    /// INT8 tensors.
    I8(Vec<i8>),
    /// UINT8 tensors.
    U8(Vec<u8>),
}

impl TensorValues {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::I32(v) => v.len(),
            Self::I8(v) => v.len(),
            Self::U8(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the values take in memory.
    pub fn byte_size(&self) -> usize {
        match self {
            Self::F32(v) => v.len() * 4,
            Self::I64(v) => v.len() * 8,
            Self::I32(v) => v.len() * 4,
            Self::I8(v) => v.len(),
            Self::U8(v) => v.len(),
        }
    }

    /// Short type name (`f32`, `i64`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::F32(_) => "f32",
            Self::I64(_) => "i64",
            Self::I32(_) => "i32",
            Self::I8(_) => "i8",
            Self::U8(_) => "u8",
        }
    }
}

/// One ONNX tensor (an initializer or a `Constant` value).
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Tensor name (empty for unnamed attribute tensors).
    pub name: String,
    /// Shape; empty for a scalar.
    pub dims: Vec<usize>,
    /// Values in row-major order; `values.len()` is the product of `dims`.
    pub values: TensorValues,
}

impl Tensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.values.len()
    }

    /// Bytes the values take in memory.
    pub fn byte_size(&self) -> usize {
        self.values.byte_size()
    }

    /// The values if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.values {
            TensorValues::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The values if this is an int64 tensor.
    pub fn as_i64(&self) -> Option<&[i64]> {
        match &self.values {
            TensorValues::I64(v) => Some(v),
            _ => None,
        }
    }
}

/// Fields of a `TensorProto` as found on the wire, before interpretation.
#[derive(Default)]
struct RawTensor<'a> {
    name: String,
    dims: Vec<u64>,
    data_type: i32,
    float_data: Vec<u32>,
    int32_data: Vec<u64>,
    int64_data: Vec<u64>,
    double_data: Vec<u64>,
    raw_data: Option<&'a [u8]>,
    external: bool,
    segmented: bool,
}

/// Decodes a serialized `TensorProto`. Errors name the tensor when its name is known.
pub(crate) fn parse_tensor(bytes: &[u8]) -> Result<Tensor> {
    let raw = read_fields(bytes).map_err(OnnxError::at(Part::Tensor(None)))?;
    let name = raw.name.clone();
    decode(raw).map_err(OnnxError::at(Part::Tensor(Some(name))))
}

fn read_fields(bytes: &[u8]) -> std::result::Result<RawTensor<'_>, wire::WireError> {
    let mut t = RawTensor::default();
    let mut r = Reader::new(bytes);
    while let Some((field, value)) = r.next_field()? {
        match field {
            1 => wire::push_varints(field, value, &mut t.dims)?,
            2 => t.data_type = expect_varint(field, value)? as i32,
            3 => t.segmented = true,
            4 => wire::push_fixed32(field, value, &mut t.float_data)?,
            5 => wire::push_varints(field, value, &mut t.int32_data)?,
            7 => wire::push_varints(field, value, &mut t.int64_data)?,
            8 => t.name = String::from_utf8_lossy(expect_bytes(field, value)?).into_owned(),
            9 => t.raw_data = Some(expect_bytes(field, value)?),
            10 => wire::push_fixed64(field, value, &mut t.double_data)?,
            13 => t.external = true,
            14 => t.external |= expect_varint(field, value)? == 1,
            _ => {}
        }
    }
    Ok(t)
}

fn expect_varint(field: u32, value: Value<'_>) -> std::result::Result<u64, wire::WireError> {
    match value {
        Value::Varint(v) => Ok(v),
        other => Err(wire::wrong_type(field, "varint", other)),
    }
}

fn expect_bytes(field: u32, value: Value<'_>) -> std::result::Result<&[u8], wire::WireError> {
    match value {
        Value::Bytes(b) => Ok(b),
        other => Err(wire::wrong_type(field, "length-delimited", other)),
    }
}

fn decode(t: RawTensor<'_>) -> Result<Tensor> {
    if t.external {
        return Err(OnnxError::ExternalData);
    }
    if t.segmented {
        return Err(OnnxError::Segmented);
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut count: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d as i64)
            .map_err(|_| OnnxError::NegativeDim { dim: d as i64, dims: signed(&t.dims) })?;
        count = count.checked_mul(d).ok_or_else(|| OnnxError::DimsOverflow(signed(&t.dims)))?;
        dims.push(d);
    }
    let values = match t.data_type {
        data_type::FLOAT => TensorValues::F32(match t.raw_data {
            Some(raw) => le_chunks::<4>(raw, count, &dims)?.map(f32::from_le_bytes).collect(),
            None => {
                typed(&t.float_data, count, &dims, "float_data")?.iter().map(|&w| f32::from_bits(w)).collect()
            }
        }),
        data_type::DOUBLE => TensorValues::F32(match t.raw_data {
            Some(raw) => le_chunks::<8>(raw, count, &dims)?.map(|b| f64::from_le_bytes(b) as f32).collect(),
            None => typed(&t.double_data, count, &dims, "double_data")?
                .iter()
                .map(|&w| f64::from_bits(w) as f32)
                .collect(),
        }),
        data_type::FLOAT16 => TensorValues::F32(match t.raw_data {
            Some(raw) => {
                le_chunks::<2>(raw, count, &dims)?.map(|b| f16_to_f32(u16::from_le_bytes(b))).collect()
            }
            None => ints_from_int32_data::<u16>(&t.int32_data, count, &dims)?
                .into_iter()
                .map(f16_to_f32)
                .collect(),
        }),
        data_type::INT64 => TensorValues::I64(match t.raw_data {
            Some(raw) => le_chunks::<8>(raw, count, &dims)?.map(i64::from_le_bytes).collect(),
            None => typed(&t.int64_data, count, &dims, "int64_data")?.iter().map(|&v| v as i64).collect(),
        }),
        data_type::INT32 => TensorValues::I32(match t.raw_data {
            Some(raw) => le_chunks::<4>(raw, count, &dims)?.map(i32::from_le_bytes).collect(),
            None => ints_from_int32_data::<i32>(&t.int32_data, count, &dims)?,
        }),
        data_type::INT8 => TensorValues::I8(match t.raw_data {
            Some(raw) => le_chunks::<1>(raw, count, &dims)?.map(i8::from_le_bytes).collect(),
            None => ints_from_int32_data::<i8>(&t.int32_data, count, &dims)?,
        }),
        data_type::UINT8 => TensorValues::U8(match t.raw_data {
            Some(raw) => le_chunks::<1>(raw, count, &dims)?.map(|b| b[0]).collect(),
            None => ints_from_int32_data::<u8>(&t.int32_data, count, &dims)?,
        }),
        other => {
            return Err(OnnxError::DataType { code: other, name: data_type::name(other) });
        }
    };
    Ok(Tensor { name: t.name, dims, values })
}

fn signed(dims: &[u64]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}

/// Splits `raw` into `count` little-endian chunks of `N` bytes, checking the length.
fn le_chunks<'r, const N: usize>(
    raw: &'r [u8],
    count: usize,
    dims: &[usize],
) -> Result<impl Iterator<Item = [u8; N]> + 'r> {
    if count.checked_mul(N) != Some(raw.len()) {
        return Err(OnnxError::RawLength { bytes: raw.len(), dims: dims.to_vec(), count, width: N });
    }
    Ok(raw.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    }))
}

fn typed<'v, T>(values: &'v [T], count: usize, dims: &[usize], field: &'static str) -> Result<&'v [T]> {
    if values.len() != count {
        return Err(OnnxError::ElementCount { field, got: values.len(), dims: dims.to_vec(), count });
    }
    Ok(values)
}

/// Narrow integers (and FLOAT16 bits) are stored one per `int32_data` entry.
fn ints_from_int32_data<T: TryFrom<i64>>(values: &[u64], count: usize, dims: &[usize]) -> Result<Vec<T>> {
    typed(values, count, dims, "int32_data")?
        .iter()
        .map(|&v| {
            let v = v as i64;
            T::try_from(v).map_err(|_| OnnxError::IntRange(v))
        })
        .collect()
}

/// Converts IEEE 754 half-precision bits to f32 (exactly; every f16 is representable).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: normalise the mantissa.
            let mut e: u32 = 127 - 15 + 1;
            let mut m = mant;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, _) => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::encode::{self, Data};

    fn parse(w: &crate::onnx::wire::Writer) -> std::result::Result<Tensor, String> {
        parse_tensor(w.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn f16_conversion() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x0400), 2f32.powi(-14));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn raw_and_typed_storage_agree() {
        use data_type::*;
        let f = [1.5f32, -2.0, 0.25, 8.0];
        let raw: Vec<u8> = f.iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse(&encode::tensor("a", &[2, 2], FLOAT, Data::Raw(&raw))).unwrap();
        let b = parse(&encode::tensor("a", &[2, 2], FLOAT, Data::Floats(&f))).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.dims, vec![2, 2]);
        assert_eq!(a.as_f32(), Some(&f[..]));

        let d = parse(&encode::tensor("d", &[2], DOUBLE, Data::Doubles(&[0.5, -3.0]))).unwrap();
        assert_eq!(d.values, TensorValues::F32(vec![0.5, -3.0]));
        let h = parse(&encode::tensor("h", &[2], FLOAT16, Data::Int32s(&[0x3c00, 0xc000]))).unwrap();
        assert_eq!(h.values, TensorValues::F32(vec![1.0, -2.0]));
        let h = parse(&encode::tensor("h", &[1], FLOAT16, Data::Raw(&[0x00, 0x3c]))).unwrap();
        assert_eq!(h.values, TensorValues::F32(vec![1.0]));

        let i8s = parse(&encode::tensor("q", &[3], INT8, Data::Int32s(&[-128, 0, 127]))).unwrap();
        assert_eq!(i8s.values, TensorValues::I8(vec![-128, 0, 127]));
        let i8raw = parse(&encode::tensor("q", &[3], INT8, Data::Raw(&[0x80, 0, 0x7f]))).unwrap();
        assert_eq!(i8raw, i8s);
        let u8s = parse(&encode::tensor("u", &[2], UINT8, Data::Int32s(&[0, 255]))).unwrap();
        assert_eq!(u8s.values, TensorValues::U8(vec![0, 255]));
        let i32s = parse(&encode::tensor("i", &[2], INT32, Data::Int32s(&[-7, 70_000]))).unwrap();
        assert_eq!(i32s.values, TensorValues::I32(vec![-7, 70_000]));
        let i64s = parse(&encode::tensor("l", &[2], INT64, Data::Int64s(&[-1, 1 << 40]))).unwrap();
        assert_eq!(i64s.as_i64(), Some(&[-1, 1 << 40][..]));
        let scalar = parse(&encode::tensor("s", &[], FLOAT, Data::Floats(&[0.4]))).unwrap();
        assert_eq!((scalar.dims.len(), scalar.numel()), (0, 1));
    }

    #[test]
    fn empty_tensor_loads() {
        let t = parse(&encode::tensor("240", &[0], data_type::FLOAT, Data::Raw(&[]))).unwrap();
        assert_eq!(t.dims, vec![0]);
        assert!(t.values.is_empty());
    }

    #[test]
    fn bad_tensors_are_clear_errors() {
        use data_type::*;
        let cases = [
            (
                encode::tensor("w", &[3], FLOAT, Data::Floats(&[1.0, 2.0])),
                "tensor 'w': float_data has 2 elements but dims [3] need 3",
            ),
            (encode::tensor("w", &[2], FLOAT, Data::Raw(&[0; 7])), "tensor 'w': raw_data has 7 bytes"),
            (encode::tensor("w", &[], FLOAT, Data::Raw(&[])), "need 1 elements"),
            (encode::tensor("b", &[1], 9, Data::Raw(&[1])), "tensor 'b': data type 9 (BOOL) not supported"),
            (encode::tensor("n", &[-1], FLOAT, Data::Raw(&[])), "tensor 'n': negative dimension -1"),
            (encode::tensor("o", &[1 << 40, 1 << 40], FLOAT, Data::Raw(&[])), "overflow"),
            (encode::tensor("r", &[1], INT8, Data::Int32s(&[300])), "out of range"),
        ];
        for (w, expected) in cases {
            let err = parse(&w).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        let mut ext = encode::tensor("e", &[1], FLOAT, Data::Raw(&[]));
        ext.varint(14, 1);
        assert!(parse(&ext).unwrap_err().contains("tensor 'e': external data not supported"));
        let mut ext = encode::tensor("e", &[1], FLOAT, Data::Raw(&[]));
        ext.bytes(13, b"\x0a\x08location");
        assert!(parse(&ext).unwrap_err().contains("external data not supported"));
    }
}
