//! Builders for ONNX protobuf messages, on top of [`Writer`]: enough to generate small
//! models in tests (tensors, attributes, nodes, a graph, a model).
//!
//! Fields are written in field-number order, as protobuf serializers do.

use super::wire::Writer;

/// Where a tensor's values go.
#[derive(Debug, Clone, Copy)]
pub enum Data<'a> {
    /// `raw_data` (little-endian bytes).
    Raw(&'a [u8]),
    /// `float_data` (packed).
    Floats(&'a [f32]),
    /// `int32_data` (packed; also used for INT8/UINT8/FLOAT16 bits).
    Int32s(&'a [i32]),
    /// `int64_data` (packed).
    Int64s(&'a [i64]),
    /// `double_data` (packed).
    Doubles(&'a [f64]),
}

/// A `TensorProto` with the given dims, data type code (see `data_type`) and values.
pub fn tensor(name: &str, dims: &[i64], data_type: i32, data: Data<'_>) -> Writer {
    let mut w = Writer::new();
    w.packed_int64(1, dims).int64(2, i64::from(data_type));
    match data {
        Data::Floats(v) => w.packed_floats(4, v),
        Data::Int32s(v) => w.packed_int64(5, &v.iter().map(|&x| i64::from(x)).collect::<Vec<_>>()),
        Data::Int64s(v) => w.packed_int64(7, v),
        Data::Raw(_) | Data::Doubles(_) => &mut w,
    };
    w.string(8, name);
    match data {
        Data::Raw(v) => w.bytes(9, v),
        Data::Doubles(v) => w.packed_doubles(10, v),
        _ => &mut w,
    };
    w
}

/// A FLOAT tensor stored as little-endian `raw_data`.
pub fn f32_tensor(name: &str, dims: &[i64], values: &[f32]) -> Writer {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, dims, super::tensor::data_type::FLOAT, Data::Raw(&raw))
}

/// An INT8 tensor stored as `raw_data`.
pub fn i8_tensor(name: &str, dims: &[i64], values: &[i8]) -> Writer {
    let raw: Vec<u8> = values.iter().map(|&v| v as u8).collect();
    tensor(name, dims, super::tensor::data_type::INT8, Data::Raw(&raw))
}

/// An INT64 tensor stored as little-endian `raw_data`.
pub fn i64_tensor(name: &str, dims: &[i64], values: &[i64]) -> Writer {
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor(name, dims, super::tensor::data_type::INT64, Data::Raw(&raw))
}

fn attr(name: &str, attr_type: u64, fill: impl FnOnce(&mut Writer)) -> Writer {
    let mut w = Writer::new();
    w.string(1, name);
    fill(&mut w);
    w.varint(20, attr_type);
    w
}

/// An INT attribute.
pub fn attr_int(name: &str, v: i64) -> Writer {
    attr(name, 2, |w| {
        w.int64(3, v);
    })
}

/// A FLOAT attribute.
pub fn attr_float(name: &str, v: f32) -> Writer {
    attr(name, 1, |w| {
        w.float(2, v);
    })
}

/// A STRING attribute.
pub fn attr_string(name: &str, v: &str) -> Writer {
    attr(name, 3, |w| {
        w.string(4, v);
    })
}

/// A TENSOR attribute.
pub fn attr_tensor(name: &str, t: &Writer) -> Writer {
    attr(name, 4, |w| {
        w.message(5, t);
    })
}

/// A FLOATS attribute (packed).
pub fn attr_floats(name: &str, v: &[f32]) -> Writer {
    attr(name, 6, |w| {
        w.packed_floats(7, v);
    })
}

/// An INTS attribute (packed).
pub fn attr_ints(name: &str, v: &[i64]) -> Writer {
    attr(name, 7, |w| {
        w.packed_int64(8, v);
    })
}

/// A `NodeProto` in the default domain.
pub fn node(name: &str, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: &[Writer]) -> Writer {
    let mut w = Writer::new();
    for i in inputs {
        w.string(1, i);
    }
    for o in outputs {
        w.string(2, o);
    }
    w.string(3, name).string(4, op_type);
    for a in attrs {
        w.message(5, a);
    }
    w
}

/// A `ValueInfoProto` carrying only a name.
pub fn value_info(name: &str) -> Writer {
    let mut w = Writer::new();
    w.string(1, name);
    w
}

/// A `GraphProto`.
pub fn graph(
    name: &str,
    nodes: &[Writer],
    initializers: &[Writer],
    inputs: &[&str],
    outputs: &[&str],
) -> Writer {
    let mut w = Writer::new();
    for n in nodes {
        w.message(1, n);
    }
    w.string(2, name);
    for t in initializers {
        w.message(5, t);
    }
    for i in inputs {
        w.message(11, &value_info(i));
    }
    for o in outputs {
        w.message(12, &value_info(o));
    }
    w
}

/// A serialized `ModelProto` with one opset import of the default domain. The graph is
/// written before the opset import (field 7 before 8), as real files have it.
pub fn model(ir_version: i64, opset_version: i64, producer: &str, graph: &Writer) -> Vec<u8> {
    let mut opset = Writer::new();
    opset.string(1, "").int64(2, opset_version);
    let mut w = Writer::new();
    w.int64(1, ir_version).string(2, producer).message(7, graph).message(8, &opset);
    w.into_bytes()
}
