//! A pushed object's fields read in one pass, for the value checks of `causal`.
//!
//! The checks read most keys of a record they judge (a note's id, author, text, flag and time;
//! an event's nine): one `map_range` costs less than a `get` per key, each of which seeks the
//! object's ops again (docs/adr/0038). A key reads as `get` would read it: its winning value.

use automerge::{Automerge, ObjId, ObjType, ScalarValue, Value};
use fieldsync_core::model::doc::{self, MapField};
use fieldsync_core::workflow::values::{self as v, BadValue};

/// One map's keys and values, as they stood when read.
pub(super) struct Fields {
    id: ObjId,
    fields: Vec<MapField>,
}

impl Fields {
    /// The fields of the map `id` in `document` (none when it is not a map).
    pub(super) fn read(document: &Automerge, id: &ObjId) -> Fields {
        Fields { id: id.clone(), fields: doc::map_fields(document, id) }
    }

    /// The map read.
    pub(super) fn id(&self) -> &ObjId {
        &self.id
    }

    /// The scalar at `key`; `None` when absent or an object.
    pub(super) fn scalar(&self, key: &str) -> Option<ScalarValue> {
        match self.fields.iter().find(|(k, _, _)| k == key)? {
            (_, Value::Scalar(s), _) => Some(s.clone().into_owned()),
            _ => None,
        }
    }

    /// The text at `key`; `None` when absent or not text.
    pub(super) fn text(&self, key: &str) -> Option<String> {
        match self.scalar(key)? {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        }
    }

    /// The map at `key`, if there is one.
    pub(super) fn map(&self, key: &str) -> Option<ObjId> {
        match self.fields.iter().find(|(k, _, _)| k == key)? {
            (_, Value::Object(ObjType::Map), id) => id.clone(),
            _ => None,
        }
    }

    /// A whole number at `key`, or why not.
    pub(super) fn whole(&self, key: &str, what: &str) -> Result<u64, BadValue> {
        match self.scalar(key) {
            Some(ScalarValue::Uint(n)) => Ok(n),
            Some(ScalarValue::Int(n)) if n >= 0 => Ok(n.unsigned_abs()),
            _ => Err(BadValue(format!("{what} must be a whole number"))),
        }
    }

    /// Text at `key` within `max` characters; absent reads as empty.
    pub(super) fn bounded(&self, key: &str, what: &str, max: usize, required: bool) -> Result<(), BadValue> {
        let value = match self.scalar(key) {
            None => String::new(),
            Some(ScalarValue::Str(s)) => s.to_string(),
            Some(_) => return Err(BadValue(format!("{what} must be text"))),
        };
        if required { v::required_text(&value, what, max) } else { v::optional_text(&value, what, max) }
    }
}

/// A time or count as a signed number.
pub(super) fn int(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Int(n) | ScalarValue::Timestamp(n) => Some(*n),
        ScalarValue::Uint(n) => i64::try_from(*n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ROOT, ReadDoc};

    /// Every key reads as `get` reads it, the winner of a concurrent write included.
    #[test]
    fn each_key_reads_as_get_reads_it() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let record = tx.put_object(ROOT, "r", ObjType::Map).expect("map");
        tx.put(&record, "text", "hello").expect("text");
        tx.put(&record, "qty", 3_u64).expect("qty");
        tx.put(&record, "at", -5_i64).expect("at");
        tx.put_object(&record, "location", ObjType::Map).expect("location");
        tx.put_object(&record, "list", ObjType::List).expect("list");
        tx.commit();
        let mut other = doc.fork();
        let mut tx = other.transaction();
        tx.put(&record, "text", "rival").expect("text");
        tx.commit();
        let mut tx = doc.transaction();
        tx.put(&record, "text", "mine").expect("text");
        tx.commit();
        doc.merge(&mut other).expect("merge");
        let fields = Fields::read(&doc, &record);
        for key in ["text", "qty", "at", "location", "list", "absent"] {
            let by_get = match doc.get(&record, key).expect("get") {
                Some((Value::Scalar(s), _)) => Some(s.into_owned()),
                _ => None,
            };
            assert_eq!(fields.scalar(key), by_get, "{key}");
        }
        assert!(fields.map("location").is_some() && fields.map("list").is_none() && fields.map("text").is_none());
        assert_eq!(fields.whole("qty", "qty").expect("whole"), 3);
        assert!(fields.whole("at", "at").is_err(), "a negative number is not whole");
        assert!(fields.bounded("qty", "qty", 10, false).is_err(), "a number is not text");
        assert!(fields.bounded("absent", "absent", 10, true).is_err(), "required");
        assert!(Fields::read(&doc, &ROOT).map("r").is_some());
    }
}
