//! JSON Lines on stdout, exactly as peers/CONTRACT.md says: one object per line, written
//! with one write and a flush; the result is the last line, whatever the library still
//! does after it. Nothing else ever goes to stdout (logging is on stderr, see main.rs).

use std::io::Write;
use std::sync::Mutex;

use fe2o3_amqp::types::messaging::{Body, Message, MessageId};
use fe2o3_amqp::types::primitives::Value;
use serde_json::{json, Map, Value as Json};

/// The events --quiet leaves out.
const PER_MESSAGE: [&str; 5] = ["sent", "accepted", "message", "settled", "sendable"];

pub struct Output {
    quiet: bool,
    finished: Mutex<bool>,
}

fn write(line: &Json) {
    let mut text = line.to_string();
    text.push('\n');
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    if lock.write_all(text.as_bytes()).and_then(|_| lock.flush()).is_err() {
        std::process::exit(1); // stdout is gone: nobody reads the contract lines any more
    }
}

impl Output {
    pub fn new(quiet: bool) -> Self {
        Output {
            quiet,
            finished: Mutex::new(false),
        }
    }

    /// One line, unless the result line is already out.
    pub fn line(&self, line: Json) {
        let finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        if !*finished {
            write(&line);
        }
    }

    /// `{"kind": "event", "name": NAME, ...fields}`; `fields` is a JSON object.
    pub fn event(&self, name: &str, fields: Json) {
        if self.quiet && PER_MESSAGE.contains(&name) {
            return;
        }
        let mut obj = Map::new();
        obj.insert("kind".into(), json!("event"));
        obj.insert("name".into(), json!(name));
        if let Json::Object(f) = fields {
            obj.extend(f);
        }
        self.line(Json::Object(obj));
    }

    /// The timeout line (when `waiting_for` is given) and the result; no line after these.
    /// Returns false when the result was already written by someone else.
    pub fn last(&self, waiting_for: Option<&str>, result: Map<String, Json>) -> bool {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        if *finished {
            return false;
        }
        if let Some(w) = waiting_for {
            write(&json!({"kind": "timeout", "waiting_for": w}));
        }
        let mut obj = Map::new();
        obj.insert("kind".into(), json!("result"));
        obj.extend(result);
        write(&Json::Object(obj));
        *finished = true;
        true
    }
}

/// Text on one line (for the result's `error` and stderr).
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn uuid_text(b: &[u8; 16]) -> String {
    let h = hex(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn float(x: f64) -> Json {
    if x.is_finite() {
        json!(x)
    } else {
        json!(x.to_string())
    }
}

/// An AMQP value as JSON, the contract's way: strings and numbers as they are, maps as
/// objects with string keys, binary as hex, uuid as its string form, null as null.
pub fn json_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::Ubyte(x) => json!(x),
        Value::Ushort(x) => json!(x),
        Value::Uint(x) => json!(x),
        Value::Ulong(x) => json!(x),
        Value::Byte(x) => json!(x),
        Value::Short(x) => json!(x),
        Value::Int(x) => json!(x),
        Value::Long(x) => json!(x),
        Value::Float(x) => float(f64::from(x.into_inner())),
        Value::Double(x) => float(x.into_inner()),
        Value::Char(c) => json!(c.to_string()),
        Value::Timestamp(t) => json!(t.milliseconds()),
        Value::Uuid(u) => json!(uuid_text(u.as_inner())),
        Value::Binary(b) => json!(hex(b)),
        Value::String(s) => json!(s),
        Value::Symbol(s) => json!(s.0),
        Value::List(items) => Json::Array(items.iter().map(json_value).collect()),
        Value::Array(items) => Json::Array(items.0.iter().map(json_value).collect()),
        Value::Map(m) => {
            let mut obj = Map::new();
            for (k, val) in m.iter() {
                let key = match json_value(k) {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                obj.insert(key, json_value(val));
            }
            Json::Object(obj)
        }
        Value::Described(d) => json_value(&d.value),
        other => json!(format!("{other:?}")),
    }
}

pub fn id_json(id: &MessageId) -> Json {
    match id {
        MessageId::Ulong(x) => json!(x),
        MessageId::Uuid(u) => json!(uuid_text(u.as_inner())),
        MessageId::Binary(b) => json!(hex(b)),
        MessageId::String(s) => json!(s),
    }
}

/// A message's body as JSON: an amqp-value as its value, data sections as hex.
pub fn body_json(body: &Body<Value>) -> Json {
    match body {
        Body::Value(v) => json_value(&v.0),
        Body::Data(batch) => {
            let parts: Vec<Json> = batch.iter().map(|d| json!(hex(&d.0))).collect();
            if parts.len() == 1 {
                parts.into_iter().next().unwrap_or(Json::Null)
            } else {
                Json::Array(parts)
            }
        }
        Body::Sequence(batch) => Json::Array(
            batch
                .iter()
                .map(|s| Json::Array(s.0.iter().map(json_value).collect()))
                .collect(),
        ),
        Body::Empty => Json::Null,
    }
}

/// A request body as text, for upper-casing.
pub fn body_text(body: &Body<Value>) -> String {
    match body {
        Body::Value(v) => match &v.0 {
            Value::String(s) => s.clone(),
            Value::Symbol(s) => s.0.clone(),
            other => match json_value(other) {
                Json::String(s) => s,
                j => j.to_string(),
            },
        },
        Body::Data(batch) => batch
            .iter()
            .map(|d| String::from_utf8_lossy(&d.0).into_owned())
            .collect(),
        other => body_json(other).to_string(),
    }
}

pub fn message_id(m: &Message<Body<Value>>) -> Option<&MessageId> {
    m.properties.as_ref().and_then(|p| p.message_id.as_ref())
}

/// A message event's fields: id, body, and reply_to, correlation_id, to when set.
pub fn message_fields(m: &Message<Body<Value>>) -> Json {
    let mut f = Map::new();
    f.insert("id".into(), message_id(m).map(id_json).unwrap_or(Json::Null));
    f.insert("body".into(), body_json(&m.body));
    if let Some(p) = &m.properties {
        if let Some(r) = &p.reply_to {
            f.insert("reply_to".into(), json!(r));
        }
        if let Some(c) = &p.correlation_id {
            f.insert("correlation_id".into(), id_json(c));
        }
        if let Some(t) = &p.to {
            f.insert("to".into(), json!(t));
        }
    }
    Json::Object(f)
}

/// Adds `key: value` to a JSON object.
pub fn with(mut fields: Json, key: &str, value: Json) -> Json {
    if let Json::Object(m) = &mut fields {
        m.insert(key.into(), value);
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::primitives::OrderedMap;

    #[test]
    fn values_as_the_contract_says() {
        let mut m = OrderedMap::new();
        m.insert(Value::String("sequence".into()), Value::Long(3));
        assert_eq!(json_value(&Value::Map(m)), json!({"sequence": 3}));
        assert_eq!(json_value(&Value::Binary(vec![1, 171].into())), json!("01ab"));
        let u = [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
        assert_eq!(uuid_text(&u), "00010203-0405-0607-0809-0a0b0c0d0e0f");
        assert_eq!(one_line("a\n  b"), "a b");
    }
}
