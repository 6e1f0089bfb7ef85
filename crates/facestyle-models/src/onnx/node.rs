//! ONNX `NodeProto` and `AttributeProto`.

use std::collections::BTreeMap;

use super::error::{OnnxError, Part, Result};
use super::tensor::{Tensor, parse_tensor};
use super::wire::{self, Reader, Value};

/// One operator application in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Node name (may be empty).
    pub name: String,
    /// Operator, e.g. `Conv`.
    pub op_type: String,
    /// Operator domain; empty for the default `ai.onnx` domain.
    pub domain: String,
    /// Input value names; an empty string marks an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Attributes by name.
    pub attrs: BTreeMap<String, Attr>,
}

impl Node {
    /// The attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.get(name)
    }

    /// A name for error messages: the node name, or its op type and first output.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            let out = self.outputs.first().map(String::as_str).unwrap_or("");
            format!("{} node -> '{out}'", self.op_type)
        } else {
            format!("{} node '{}'", self.op_type, self.name)
        }
    }
}

/// An attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    /// FLOAT.
    Float(f32),
    /// INT.
    Int(i64),
    /// STRING (bytes read as UTF-8, lossily).
    String(String),
    /// TENSOR.
    Tensor(Tensor),
    /// FLOATS.
    Floats(Vec<f32>),
    /// INTS.
    Ints(Vec<i64>),
    /// Any other kind (graphs, sparse tensors, lists of strings/tensors...), by
    /// `AttributeProto.AttributeType` code; its value is not kept.
    Other(i32),
}

/// `AttributeProto.AttributeType` codes for graph-valued attributes.
pub(crate) const ATTR_GRAPH: i32 = 5;
pub(crate) const ATTR_GRAPHS: i32 = 10;

impl Attr {
    /// The value of an INT attribute.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Attr::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a FLOAT attribute.
    pub fn as_float(&self) -> Option<f32> {
        match self {
            Attr::Float(v) => Some(*v),
            _ => None,
        }
    }

    /// The value of a STRING attribute.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Attr::String(v) => Some(v),
            _ => None,
        }
    }

    /// The value of an INTS attribute.
    pub fn as_ints(&self) -> Option<&[i64]> {
        match self {
            Attr::Ints(v) => Some(v),
            _ => None,
        }
    }

    /// The value of a FLOATS attribute.
    pub fn as_floats(&self) -> Option<&[f32]> {
        match self {
            Attr::Floats(v) => Some(v),
            _ => None,
        }
    }

    /// Bytes the value takes in memory (tensors and lists; 0 for the rest).
    pub fn byte_size(&self) -> usize {
        match self {
            Attr::Tensor(t) => t.byte_size(),
            Attr::Floats(v) => v.len() * 4,
            Attr::Ints(v) => v.len() * 8,
            Attr::String(v) => v.len(),
            _ => 0,
        }
    }

    /// The value of a TENSOR attribute.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Attr::Tensor(v) => Some(v),
            _ => None,
        }
    }
}

pub(crate) fn expect_varint(field: u32, value: Value<'_>) -> Result<u64> {
    match value {
        Value::Varint(v) => Ok(v),
        other => Err(wire::wrong_type(field, "varint", other).into()),
    }
}

pub(crate) fn expect_bytes(field: u32, value: Value<'_>) -> Result<&[u8]> {
    match value {
        Value::Bytes(b) => Ok(b),
        other => Err(wire::wrong_type(field, "length-delimited", other).into()),
    }
}

pub(crate) fn expect_string(field: u32, value: Value<'_>) -> Result<String> {
    let bytes = expect_bytes(field, value)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| OnnxError::NotUtf8(field))
}

/// Decodes a serialized `NodeProto`; `index` is its position in the graph, for errors.
pub(crate) fn parse_node(bytes: &[u8], index: usize) -> Result<Node> {
    let mut node = Node {
        name: String::new(),
        op_type: String::new(),
        domain: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        attrs: BTreeMap::new(),
    };
    let mut attrs = Vec::new();
    let mut r = Reader::new(bytes);
    let mut step = || -> Result<bool> {
        let Some((field, value)) = r.next_field()? else {
            return Ok(false);
        };
        match field {
            1 => node.inputs.push(expect_string(field, value)?),
            2 => node.outputs.push(expect_string(field, value)?),
            3 => node.name = expect_string(field, value)?,
            4 => node.op_type = expect_string(field, value)?,
            5 => attrs.push(expect_bytes(field, value)?),
            7 => node.domain = expect_string(field, value)?,
            _ => {}
        }
        Ok(true)
    };
    loop {
        match step() {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(e.within(Part::Node(index))),
        }
    }
    for bytes in attrs {
        let (name, attr) = parse_attr(bytes).map_err(OnnxError::at(Part::NodeLabel(node.label())))?;
        if node.attrs.insert(name.clone(), attr).is_some() {
            return Err(OnnxError::Twice { what: "attribute", name }.within(Part::NodeLabel(node.label())));
        }
    }
    if node.op_type.is_empty() {
        return Err(OnnxError::NoOpType.within(Part::Node(index)));
    }
    Ok(node)
}

/// Decodes a serialized `AttributeProto` into its name and value.
fn parse_attr(bytes: &[u8]) -> Result<(String, Attr)> {
    let mut name = String::new();
    let (mut f, mut i, mut s, mut t) = (None, None, None, None);
    let (mut floats, mut ints) = (Vec::new(), Vec::new());
    let mut attr_type = 0i32;
    let mut r = Reader::new(bytes);
    let named = |name: &str| OnnxError::at::<OnnxError>(Part::Attribute(Some(name.to_string())));
    while let Some((field, value)) = r.next_field().map_err(OnnxError::at(Part::Attribute(None)))? {
        match field {
            1 => name = expect_string(field, value).map_err(OnnxError::at(Part::Attribute(None)))?,
            2 => match value {
                Value::Fixed32(v) => f = Some(f32::from_bits(v)),
                other => return Err(named(&name)(wire::wrong_type(field, "fixed32", other).into())),
            },
            3 => i = Some(expect_varint(field, value).map_err(named(&name))? as i64),
            4 => s = Some(expect_bytes(field, value).map_err(named(&name))?),
            5 => t = Some(expect_bytes(field, value).map_err(named(&name))?),
            7 => {
                wire::push_fixed32(field, value, &mut floats).map_err(OnnxError::at(Part::Attribute(None)))?
            }
            8 => wire::push_varints(field, value, &mut ints).map_err(OnnxError::at(Part::Attribute(None)))?,
            20 => attr_type = expect_varint(field, value).map_err(named(&name))? as i32,
            _ => {}
        }
    }
    let floats: Vec<f32> = floats.iter().map(|&w| f32::from_bits(w)).collect();
    let ints: Vec<i64> = ints.iter().map(|&v| v as i64).collect();
    let tensor = |t: &[u8]| parse_tensor(t).map(Attr::Tensor).map_err(named(&name));
    // Old models may omit `type`: infer it from the field that is set.
    let attr = match attr_type {
        1 => Attr::Float(f.unwrap_or(0.0)),
        2 => Attr::Int(i.unwrap_or(0)),
        3 => Attr::String(String::from_utf8_lossy(s.unwrap_or_default()).into_owned()),
        4 => match t {
            Some(t) => tensor(t)?,
            None => return Err(named(&name)(OnnxError::NoTensor)),
        },
        6 => Attr::Floats(floats),
        7 => Attr::Ints(ints),
        0 => match (f, i, s, t) {
            (_, _, _, Some(t)) => tensor(t)?,
            (_, _, Some(s), _) => Attr::String(String::from_utf8_lossy(s).into_owned()),
            (Some(f), _, _, _) => Attr::Float(f),
            (_, Some(i), _, _) => Attr::Int(i),
            _ if !ints.is_empty() => Attr::Ints(ints),
            _ if !floats.is_empty() => Attr::Floats(floats),
            _ => Attr::Other(0),
        },
        other => Attr::Other(other),
    };
    if name.is_empty() {
        return Err(OnnxError::NoName(Part::Attribute(None)));
    }
    Ok((name, attr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::encode;
    use crate::onnx::tensor::data_type;

    #[test]
    fn node_with_all_attribute_kinds() {
        let t = encode::f32_tensor("", &[2], &[1.0, 2.0]);
        let n = encode::node(
            "n1",
            "Foo",
            &["a", "", "c"],
            &["y"],
            &[
                encode::attr_int("axis", -1),
                encode::attr_float("alpha", 0.5),
                encode::attr_string("mode", "nearest"),
                encode::attr_tensor("value", &t),
                encode::attr_floats("scales", &[1.0, 2.0]),
                encode::attr_ints("pads", &[0, 1, -1]),
            ],
        );
        let node = parse_node(n.as_bytes(), 0).unwrap();
        assert_eq!((node.name.as_str(), node.op_type.as_str()), ("n1", "Foo"));
        assert_eq!(node.inputs, vec!["a", "", "c"]);
        assert_eq!(node.outputs, vec!["y"]);
        assert_eq!(node.attr("axis").and_then(Attr::as_int), Some(-1));
        assert_eq!(node.attr("alpha").and_then(Attr::as_float), Some(0.5));
        assert_eq!(node.attr("mode").and_then(Attr::as_str), Some("nearest"));
        assert_eq!(node.attr("scales").and_then(Attr::as_floats), Some(&[1.0, 2.0][..]));
        assert_eq!(node.attr("pads").and_then(Attr::as_ints), Some(&[0, 1, -1][..]));
        let value = node.attr("value").and_then(Attr::as_tensor).unwrap();
        assert_eq!(value.as_f32(), Some(&[1.0, 2.0][..]));
    }

    #[test]
    fn untyped_attributes_are_inferred() {
        let mut a = crate::onnx::wire::Writer::new();
        a.string(1, "k").int64(3, 7);
        let mut n = encode::node("", "Bar", &[], &["z"], &[]);
        n.message(5, &a);
        let node = parse_node(n.as_bytes(), 3).unwrap();
        assert_eq!(node.attrs["k"], Attr::Int(7));
        assert_eq!(node.label(), "Bar node -> 'z'");
    }

    #[test]
    fn bad_nodes_are_errors() {
        let bad_tensor = encode::tensor("t", &[2], data_type::FLOAT, encode::Data::Floats(&[1.0]));
        let n = encode::node("c", "Constant", &[], &["y"], &[encode::attr_tensor("value", &bad_tensor)]);
        let err = parse_node(n.as_bytes(), 0).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("Constant node 'c': attribute 'value': tensor 't'"), "{err}");

        let n = encode::node("d", "X", &[], &[], &[encode::attr_int("a", 1), encode::attr_int("a", 2)]);
        assert!(parse_node(n.as_bytes(), 0).unwrap_err().to_string().contains("given twice"));

        let n = encode::node("e", "", &[], &[], &[]);
        assert!(parse_node(n.as_bytes(), 4).unwrap_err().to_string().contains("node #4: no op_type"));
    }
}
