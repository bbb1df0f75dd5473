//! How a ticket's index fields become SQL columns, for every database the project writes (the
//! device's SQLite, the server's SQLite and PostgreSQL; docs/adr/0025).
//!
//! [`crate::model::TicketIndex`] is declared once with [`ticket_index!`]: each field names its
//! column(s) beside its Rust type, and the type says how it is stored ([`IndexField`]). From
//! that one declaration come [`INDEX_COLUMNS`] (names and kinds, in order),
//! `TicketIndex::values` (the row to write, in that order) and `TicketIndex::from_values` (the
//! row read back). The SQL texts of every backend are made from [`INDEX_COLUMNS`], so none of
//! them restates the list.

use crate::model::{Priority, Sla};
use crate::time::Millis;
use crate::workflow::Status;

/// How a column is stored. SQLite stores every kind but text as `INTEGER`; PostgreSQL has a
/// type per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// A 64-bit integer (PostgreSQL `BIGINT`).
    Int,
    /// A small integer (PostgreSQL `SMALLINT`).
    SmallInt,
    /// A boolean (PostgreSQL `BOOLEAN`; SQLite 0/1).
    Bool,
    /// Text.
    Text,
}

/// One value of an index column, whichever database holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnValue {
    /// SQL `NULL`.
    Null,
    /// An integer (also a small integer).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
}

impl ColumnValue {
    fn int(self) -> Option<i64> {
        match self {
            ColumnValue::Int(n) => Some(n),
            ColumnValue::Bool(b) => Some(i64::from(b)),
            _ => None,
        }
    }

    fn bool(self) -> Option<bool> {
        match self {
            ColumnValue::Bool(b) => Some(b),
            ColumnValue::Int(n) => Some(n != 0),
            _ => None,
        }
    }

    fn text(self) -> Option<String> {
        match self {
            ColumnValue::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One index column: its name in every database and how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// How it is stored.
    pub kind: ColumnKind,
}

/// A Rust type an index field may have: the columns it takes and how it is written and read.
/// Reading is forgiving (a value of the wrong kind or an unknown status reads as the default),
/// as the row mappers always were: the index is derived data, rebuilt from documents.
pub trait IndexField: Sized {
    /// The kinds of the columns it takes, in order.
    const KINDS: &'static [ColumnKind];
    /// Appends its column values.
    fn put(&self, out: &mut Vec<ColumnValue>);
    /// Takes its column values.
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self;
}

fn next(values: &mut dyn Iterator<Item = ColumnValue>) -> ColumnValue {
    values.next().unwrap_or(ColumnValue::Null)
}

impl IndexField for String {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Text];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(ColumnValue::Text(self.clone()));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).text().unwrap_or_default()
    }
}

impl IndexField for Option<String> {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Text];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(self.clone().map_or(ColumnValue::Null, ColumnValue::Text));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).text()
    }
}

impl IndexField for Option<Millis> {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Int];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(self.map_or(ColumnValue::Null, ColumnValue::Int));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).int()
    }
}

impl IndexField for u32 {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Int];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(ColumnValue::Int(i64::from(*self)));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).int().map_or(0, |n| u32::try_from(n.max(0)).unwrap_or(u32::MAX))
    }
}

impl IndexField for bool {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Bool];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(ColumnValue::Bool(*self));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).bool().unwrap_or(false)
    }
}

impl IndexField for Option<bool> {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Bool];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(self.map_or(ColumnValue::Null, ColumnValue::Bool));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).bool()
    }
}

impl IndexField for Option<u8> {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::SmallInt];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(self.map_or(ColumnValue::Null, |n| ColumnValue::Int(i64::from(n))));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).int().and_then(|n| u8::try_from(n).ok())
    }
}

impl IndexField for Status {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Text];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(ColumnValue::Text(self.as_str().to_owned()));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).text().and_then(|s| Status::parse(&s)).unwrap_or_default()
    }
}

impl IndexField for Priority {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Text];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        out.push(ColumnValue::Text(self.as_str().to_owned()));
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        next(values).text().and_then(|s| Priority::parse(&s)).unwrap_or_default()
    }
}

/// The three deadlines, in three columns.
impl IndexField for Sla {
    const KINDS: &'static [ColumnKind] = &[ColumnKind::Int, ColumnKind::Int, ColumnKind::Int];
    fn put(&self, out: &mut Vec<ColumnValue>) {
        self.respond_by.put(out);
        self.arrive_by.put(out);
        self.resolve_by.put(out);
    }
    fn take(values: &mut dyn Iterator<Item = ColumnValue>) -> Self {
        Sla {
            respond_by: IndexField::take(values),
            arrive_by: IndexField::take(values),
            resolve_by: IndexField::take(values),
        }
    }
}

/// Declares [`crate::model::TicketIndex`]: each field with its doc comment, type and column
/// names. Generates the struct, `INDEX_FIELDS` (checked at compile time: as many names as the
/// type takes columns) and the conversions to and from column values.
macro_rules! ticket_index {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty => [$($column:literal),+] ),+ $(,)?) => {
        /// The listed fields of a ticket: what lists, filters, sync decisions and statistics read
        /// without loading documents, computed from the document in one place
        /// ([`TicketIndex::of`]) and embedded in the device's [`crate::model::TicketSummary`] and
        /// the server's index row (docs/adr/0025).
        #[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
        #[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(default)]
        pub struct TicketIndex {
            $( $(#[$doc])* pub $field: $ty, )+
        }

        /// Each field's column names and kinds, in declaration order.
        const INDEX_FIELDS: &[(&[&str], &[$crate::model::columns::ColumnKind])] =
            &[ $( (&[$($column),+], <$ty as $crate::model::columns::IndexField>::KINDS) ),+ ];

        const _: () = {
            let mut i = 0;
            while i < INDEX_FIELDS.len() {
                assert!(INDEX_FIELDS[i].0.len() == INDEX_FIELDS[i].1.len(), "a field names as many columns as its type takes");
                i += 1;
            }
        };

        impl TicketIndex {
            /// The column values, in [`INDEX_COLUMNS`]'s order.
            pub fn values(&self) -> Vec<$crate::model::columns::ColumnValue> {
                let mut out = Vec::with_capacity(INDEX_COLUMNS.len());
                $( $crate::model::columns::IndexField::put(&self.$field, &mut out); )+
                out
            }

            /// The index from column values in [`INDEX_COLUMNS`]'s order (missing ones read
            /// as `NULL`).
            pub fn from_values(values: impl IntoIterator<Item = $crate::model::columns::ColumnValue>) -> TicketIndex {
                let mut values = values.into_iter();
                TicketIndex { $( $field: <$ty as $crate::model::columns::IndexField>::take(&mut values), )+ }
            }
        }

        /// Every index column, in order: the one list the SQL of every backend is made from.
        pub static INDEX_COLUMNS: std::sync::LazyLock<Vec<$crate::model::columns::Column>> =
            std::sync::LazyLock::new(|| {
                INDEX_FIELDS
                    .iter()
                    .flat_map(|(names, kinds)| {
                        names.iter().zip(kinds.iter()).map(|(name, kind)| $crate::model::columns::Column { name, kind: *kind })
                    })
                    .collect()
            });
    };
}

pub(crate) use ticket_index;

/// A fingerprint of the index's columns and of [`crate::model::INDEX_REVISION`] (FNV-1a of
/// their names): a store whose rows were written under another fingerprint is reindexed from
/// its documents when it opens, so a new column is filled for tickets written before it.
pub fn index_fingerprint() -> i64 {
    let mut text = crate::model::INDEX_REVISION.to_string();
    for column in crate::model::INDEX_COLUMNS.iter() {
        text.push(',');
        text.push_str(column.name);
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}
