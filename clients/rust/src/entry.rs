//! ChangeEntry: one row change as `cdc.stream`, `cdc.consume` and the group
//! functions return it (`cdc.change_entry`, src/log/log.sql), decoded from
//! the binary protocol without loss:
//! - `jsonb` values through serde_json with `arbitrary_precision`: a bigint
//!   key of 9007199254740993 and a 30-digit numeric keep every digit
//!   (`Number::to_string()` gives them back exactly, `as_u64()` works where
//!   it fits); `NaN`/`Infinity` are the strings the server writes;
//! - the commit time as integer microseconds since the Unix epoch (the
//!   server's own resolution), never through a float.

use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use tokio_postgres::types::{FromSql, Kind, Type};
use tokio_postgres::Row;

use crate::error::{Error, Result};
use crate::lsn::Lsn;

/// What happened to the row (`cdc.operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    Insert,
    Update,
    Delete,
    Truncate,
    /// A logical message (`pg_logical_emit_message`), when the consumer asked
    /// for them: prefix and content are in `new_data`.
    Message,
    /// A table's shape changed (DDL), when the consumer's operations name
    /// `schema`: the shapes before and after in `old_data` and `new_data`.
    Schema,
    /// A current row a backfill sent (start `snapshot` or `cdc.backfill()`):
    /// the row in `new_data`; only the consumer that asked receives it.
    Read,
}

impl Operation {
    /// The server's name (`insert`, `update`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Truncate => "truncate",
            Operation::Message => "message",
            Operation::Schema => "schema",
            Operation::Read => "read",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Operation> {
        Ok(match s {
            "insert" => Operation::Insert,
            "update" => Operation::Update,
            "delete" => Operation::Delete,
            "truncate" => Operation::Truncate,
            "message" => Operation::Message,
            "schema" => Operation::Schema,
            "read" => Operation::Read,
            _ => return Err(Error::Invalid(format!("unknown operation \"{}\"", s))),
        })
    }
}

// cdc.operation is an enum: its binary form is the label.
impl<'a> FromSql<'a> for Operation {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<Operation, Box<dyn StdError + Sync + Send>> {
        let s = std::str::from_utf8(raw)?;
        s.parse().map_err(|e: Error| e.to_string().into())
    }
    fn accepts(ty: &Type) -> bool {
        matches!(ty.kind(), Kind::Enum(_)) || *ty == Type::TEXT
    }
}

/// One row change (docs/plugin.md).  `(commit_lsn, seq)` is the cursor: it
/// strictly increases along the stream; `lsn` alone does not.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeEntry {
    /// WAL position of the change's record (not monotonic across transactions)
    pub lsn: Lsn,
    /// commit record of its transaction
    pub commit_lsn: Lsn,
    /// 1-based position of the change in its transaction
    pub seq: i32,
    /// transaction id
    pub xid: i64,
    /// commit time, microseconds since the Unix epoch
    pub timestamp: i64,
    /// the table, `schema.table` (each part quoted only where PostgreSQL
    /// would); empty for a logical message
    pub entity: String,
    /// the row's key: primary key (one column: its value; several: an
    /// object); `Value::Null` when the table has none
    pub entity_id: Value,
    pub operation: Operation,
    /// the old row as the WAL carries it (replica identity)
    pub old_data: Option<Value>,
    /// the new row (None for delete and truncate)
    pub new_data: Option<Value>,
    /// columns an update left alone whose (TOASTed) value is not in the WAL
    pub unchanged_toast: Vec<String>,
    /// columns whose value jsonb cannot hold, given as their JSON text
    pub fallback: Vec<String>,
    /// The position (`lsn`) of the `schema` entry whose table shape this
    /// change follows (docs/schema-changes.md): remember the version your
    /// code was built for, and a change with another one is a schema change,
    /// one comparison.  `Some(Lsn(0))` (`0/0`): the shape the table had when
    /// cdc_ext 1.2 was installed (or updated to), with no DDL since; `None`:
    /// logged before 1.2, or a logical message (no table).  A `schema` entry
    /// carries its own position; its shapes before and after are in
    /// `old_data` and `new_data`.
    pub schema_version: Option<Lsn>,
}

impl ChangeEntry {
    /// The cursor position of this change.
    pub fn position(&self) -> (Lsn, i32) {
        (self.commit_lsn, self.seq)
    }

    /// The commit time as a `SystemTime`.
    pub fn system_time(&self) -> std::time::SystemTime {
        let d = std::time::Duration::from_micros(self.timestamp.unsigned_abs());
        if self.timestamp >= 0 {
            std::time::UNIX_EPOCH + d
        } else {
            std::time::UNIX_EPOCH - d
        }
    }
}

/// A change as a consumer group delivers it: how many times it was leased.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupEntry {
    pub change: ChangeEntry,
    pub delivery_count: i32,
}

impl std::ops::Deref for GroupEntry {
    type Target = ChangeEntry;
    fn deref(&self) -> &ChangeEntry {
        &self.change
    }
}

/// The columns read from `cdc.change_entry` (and the group functions' rows),
/// in the order `from_row` expects them; a caller's own columns follow, from
/// `ENTRY_WIDTH` on.
pub(crate) const ENTRY_COLUMNS: &str = "e.lsn, e.commit_lsn, e.seq, e.xid, e.\"timestamp\", e.entity, e.entity_id, \
     e.operation, e.old_data, e.new_data, e.unchanged_toast, e.fallback, e.schema_version";

/// How many columns ENTRY_COLUMNS selects.
pub(crate) const ENTRY_WIDTH: usize = 13;

/// jsonb (or json) as the text it holds: binary jsonb is a version byte (1)
/// and the text.
pub(crate) struct JsonText<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for JsonText<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<JsonText<'a>, Box<dyn StdError + Sync + Send>> {
        if *ty == Type::JSONB {
            match raw.split_first() {
                Some((1, rest)) => Ok(JsonText(rest)),
                _ => Err("jsonb: unsupported binary version".into()),
            }
        } else {
            Ok(JsonText(raw))
        }
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// timestamptz as integer microseconds since the Unix epoch: binary
/// timestamptz is microseconds since 2000-01-01 (infinity saturates).
pub(crate) struct UnixMicros(pub i64);

impl<'a> FromSql<'a> for UnixMicros {
    fn from_sql(_: &Type, raw: &'a [u8]) -> std::result::Result<UnixMicros, Box<dyn StdError + Sync + Send>> {
        let b: [u8; 8] = raw.try_into().map_err(|_| "timestamptz: expected 8 bytes")?;
        let v = i64::from_be_bytes(b);
        Ok(UnixMicros(if v == i64::MAX || v == i64::MIN { v } else { v + PG_EPOCH_MICROS }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
    }
}

/// Parse JSON text without loss (serde_json's arbitrary_precision).
pub fn parse_json(text: &[u8]) -> Result<Value> {
    serde_json::from_slice(text).map_err(|e| Error::Invalid(format!("invalid JSON from the server: {}", e)))
}

fn json_col(row: &Row, i: usize) -> Result<Option<Value>> {
    let t: Option<JsonText> = row.try_get(i)?;
    match t {
        Some(t) => parse_json(t.0).map(Some),
        None => Ok(None),
    }
}

impl ChangeEntry {
    /// A ChangeEntry from a row selected with ENTRY_COLUMNS.
    pub(crate) fn from_row(row: &Row) -> Result<ChangeEntry> {
        let lsn: Option<Lsn> = row.try_get(0)?;
        let commit_lsn: Option<Lsn> = row.try_get(1)?;
        let seq: Option<i32> = row.try_get(2)?;
        let xid: Option<i64> = row.try_get(3)?;
        let ts: Option<UnixMicros> = row.try_get(4)?;
        let entity: Option<String> = row.try_get(5)?;
        let operation: Operation = row.try_get(7)?;
        let toast: Option<Vec<String>> = row.try_get(10)?;
        let fallback: Option<Vec<String>> = row.try_get(11)?;
        let schema_version: Option<Lsn> = row.try_get(12)?;
        Ok(ChangeEntry {
            lsn: lsn.unwrap_or_default(),
            commit_lsn: commit_lsn.unwrap_or_default(),
            seq: seq.unwrap_or(0),
            xid: xid.unwrap_or(0),
            timestamp: ts.map(|t| t.0).unwrap_or(0),
            entity: entity.unwrap_or_default(),
            entity_id: json_col(row, 6)?.unwrap_or(Value::Null),
            operation,
            old_data: json_col(row, 8)?,
            new_data: json_col(row, 9)?,
            unchanged_toast: toast.unwrap_or_default(),
            fallback: fallback.unwrap_or_default(),
            schema_version,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_lossless() {
        let v = parse_json(br#"{"id":9007199254740993,"price":123456789012345678901234567890.25,"f":0.30000000000000004,"n":"NaN","i":"Infinity","neg":-18446744073709551617}"#).unwrap();
        assert_eq!(v["id"].as_u64(), Some(9007199254740993));
        assert_eq!(v["id"].to_string(), "9007199254740993");
        assert_eq!(v["price"].to_string(), "123456789012345678901234567890.25");
        assert_eq!(v["f"].to_string(), "0.30000000000000004");
        assert_eq!(v["n"], Value::String("NaN".into()));
        assert_eq!(v["i"], Value::String("Infinity".into()));
        assert_eq!(v["neg"].to_string(), "-18446744073709551617");
        // written back, the JSON text is the same numbers
        assert_eq!(serde_json::to_string(&v["price"]).unwrap(), "123456789012345678901234567890.25");
    }

    #[test]
    fn operations_round_trip() {
        for op in [Operation::Insert, Operation::Update, Operation::Delete, Operation::Truncate, Operation::Message,
                   Operation::Schema, Operation::Read] {
            assert_eq!(op.as_str().parse::<Operation>().unwrap(), op);
        }
        assert!("upsert".parse::<Operation>().is_err());
    }
}
