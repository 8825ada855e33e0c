//! Strict JSON parsing (duplicate keys are errors) and canonical JSON encoding
//! (securesystemslib/OLPC: sorted keys, no whitespace, only `"` and `\` escaped, integers only).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON parse error with its position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at line {line}, column {column}: {message}")]
pub struct JsonError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::new();
        while let Some(Strict(x)) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if m.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate key {k:?}")));
            }
            let Strict(v) = map.next_value()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

/// Parses JSON, rejecting duplicate object keys.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice::<Strict>(bytes)
        .map(|s| s.0)
        .map_err(|e| JsonError {
            line: e.line(),
            column: e.column(),
            message: {
                let s = e.to_string();
                match s.rfind(" at line ") {
                    Some(i) => s[..i].to_owned(),
                    None => s,
                }
            },
        })
}

/// A value that has no canonical JSON form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("value at {path} has no canonical JSON form (non-integer number)")]
pub struct NotCanonical {
    /// JSON-pointer-like path of the value.
    pub path: String,
}

/// Canonical JSON encoding.
pub fn canonical(v: &Value) -> Result<Vec<u8>, NotCanonical> {
    let mut out = Vec::with_capacity(256);
    enc(v, &mut out, &mut String::new())?;
    Ok(out)
}

fn enc(v: &Value, out: &mut Vec<u8>, path: &mut String) -> Result<(), NotCanonical> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(NotCanonical {
                    path: if path.is_empty() {
                        "/".into()
                    } else {
                        path.clone()
                    },
                });
            }
        }
        Value::String(s) => enc_str(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let l = path.len();
                path.push_str(&format!("/{i}"));
                enc(x, out, path)?;
                path.truncate(l);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            out.push(b'{');
            for (i, (k, x)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                enc_str(k, out);
                out.push(b':');
                let l = path.len();
                path.push('/');
                path.push_str(k);
                enc(x, out, path)?;
                path.truncate(l);
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn enc_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form() {
        let v = parse_strict(br#"{"b": [1, "x\"y\\z"], "a": {"d": null, "c": true}}"#).unwrap();
        assert_eq!(
            canonical(&v).unwrap(),
            br#"{"a":{"c":true,"d":null},"b":[1,"x\"y\\z"]}"#
        );
        let f = parse_strict(br#"{"a": [1.5]}"#).unwrap();
        assert_eq!(canonical(&f).unwrap_err().path, "/a/0");
    }

    #[test]
    fn duplicate_keys_rejected_with_position() {
        let e = parse_strict(b"{\n \"a\": 1,\n \"a\": 2}").unwrap_err();
        assert!(e.message.contains("duplicate key"), "{e}");
        assert_eq!(e.line, 3);
        assert!(parse_strict(b"{\"a\": 1,}").is_err());
    }
}
