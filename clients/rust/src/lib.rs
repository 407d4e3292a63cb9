//! # cdc-ext: the Rust client of cdc_ext
//!
//! Change Data Capture for PostgreSQL, as the product document writes it:
//!
//! ```no_run
//! use cdc_ext::{Client, Operation};
//! # async fn run() -> cdc_ext::Result<()> {
//! let client = Client::connect("host=localhost dbname=shop user=app").await?;
//! let mut stream = client.stream_changes().consumer("search-sync").await?;
//! while let Some(change) = stream.next().await? {
//!     match change.operation {
//!         Operation::Insert => println!("New {}: {}", change.entity, change.entity_id),
//!         Operation::Update => println!("Updated {}: {}", change.entity, change.entity_id),
//!         Operation::Delete => println!("Deleted {}: {}", change.entity, change.entity_id),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! It drives the extension's SQL API (`cdc.stream`, `cdc.consume`,
//! `cdc.checkpoint`, the group functions, the backfill functions) over
//! tokio-postgres; values are lossless (`serde_json` with
//! `arbitrary_precision`).  Every entry carries `schema_version`, the
//! position of the DDL whose table shape it follows: a schema change is one
//! comparison.  A consumer or group created with `Start::Snapshot` (or
//! given `Client::backfill()` later) first receives the tables' current
//! rows as `Operation::Read` entries, in order with the changes;
//! `Client::backfills()` shows the progress.  See README.md.

mod backfill;
mod client;
mod conn;
mod entry;
mod error;
mod group;
mod lsn;
mod stream;

pub use backfill::{BackfillInfo, BackfillKind, BackfillState};
pub use client::{Client, ConsumeOptions, ConsumeSummary, ConsumerOptions, Lag, Start, Status, Transaction, Tx};
pub use entry::{parse_json, ChangeEntry, GroupEntry, Operation};
pub use error::{Error, Gap, Reconnect, Result, ServerError, CONSUMER_BUSY, GAP_SQLSTATE};
pub use group::{GroupMember, Pending, ReadOptions};
pub use lsn::{Lsn, ParseLsnError};
pub use stream::{ChangeStream, ChangeStreamBuilder, Closer, StartTime};

/// serde_json as the client uses it (with `arbitrary_precision`): the type
/// of `entity_id`, `old_data` and `new_data`.
pub use serde_json;
/// The driver, for `Tx::client()` and row types.
pub use tokio_postgres;

/// A connection string from the environment: `DATABASE_URL` if set, else
/// the libpq variables `PGHOST` (default localhost), `PGPORT`, `PGUSER`,
/// `PGPASSWORD`, `PGDATABASE`.
pub fn conninfo_from_env() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        if !url.is_empty() {
            return url;
        }
    }
    let quote = |v: String| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
    let mut parts = vec![format!("host={}", quote(std::env::var("PGHOST").unwrap_or_else(|_| "localhost".into())))];
    for (var, key) in [("PGPORT", "port"), ("PGUSER", "user"), ("PGPASSWORD", "password"), ("PGDATABASE", "dbname")] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                parts.push(format!("{}={}", key, quote(v)));
            }
        }
    }
    parts.join(" ")
}
