//! Backfills (docs/backfill.md): a consumer's or group's start from the
//! tables' current rows.  `Start::Snapshot` asks for one when the consumer
//! or group is created; `Client::backfill()` asks for one later (a table
//! added to its filters, after a gap).  The log writer reads the tables a
//! key-ordered chunk at a time and logs their rows as entries with operation
//! `Read`, in cursor order with the changes, for the one consumer or group
//! that asked: applying its stream in order to an empty copy (a read like an
//! insert) yields the tables, whatever commits meanwhile.  The progress is
//! the view `cdc.backfills`, one row per table (`Client::backfills()`).

use std::fmt;
use std::str::FromStr;

use tokio_postgres::Row;

use crate::client::Client;
use crate::entry::UnixMicros;
use crate::error::{Error, Result};

/// Where a backfill of one table is (`cdc.backfills.state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackfillState {
    /// not started (the writer has not reached it, or its table is locked:
    /// a backfill never waits for a lock)
    Pending,
    /// chunks are being read and logged
    Running,
    /// every row was logged (or superseded by a change in the stream)
    Done,
    /// `cancel_backfill()` stopped it (the rows logged before stay)
    Cancelled,
    /// it stopped on an error, or its table was dropped (`error` says why)
    Failed,
    /// not read: the table has no primary key or replica identity index
    Skipped,
}

impl BackfillState {
    /// The server's name (`pending`, `running`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BackfillState::Pending => "pending",
            BackfillState::Running => "running",
            BackfillState::Done => "done",
            BackfillState::Cancelled => "cancelled",
            BackfillState::Failed => "failed",
            BackfillState::Skipped => "skipped",
        }
    }

    /// Whether it has ended: no further row of it will be logged.
    pub fn is_finished(self) -> bool {
        !matches!(self, BackfillState::Pending | BackfillState::Running)
    }
}

impl fmt::Display for BackfillState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackfillState {
    type Err = Error;
    fn from_str(s: &str) -> Result<BackfillState> {
        Ok(match s {
            "pending" => BackfillState::Pending,
            "running" => BackfillState::Running,
            "done" => BackfillState::Done,
            "cancelled" => BackfillState::Cancelled,
            "failed" => BackfillState::Failed,
            "skipped" => BackfillState::Skipped,
            _ => return Err(Error::Invalid(format!("unknown backfill state \"{}\"", s))),
        })
    }
}

/// Whether a backfill is a consumer's or a consumer group's (`cdc.backfills.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackfillKind {
    Consumer,
    Group,
}

impl BackfillKind {
    /// The server's name (`consumer`, `group`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackfillKind::Consumer => "consumer",
            BackfillKind::Group => "group",
        }
    }
}

impl fmt::Display for BackfillKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackfillKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<BackfillKind> {
        match s {
            "consumer" => Ok(BackfillKind::Consumer),
            "group" => Ok(BackfillKind::Group),
            _ => Err(Error::Invalid(format!("unknown backfill kind \"{}\"", s))),
        }
    }
}

/// One row of `cdc.backfills`: one table of a backfill.  Times are
/// microseconds since the Unix epoch, as `ChangeEntry::timestamp`.
#[derive(Clone, Debug, PartialEq)]
pub struct BackfillInfo {
    /// what `backfill()` returned (one id for all the tables of one call)
    pub id: i64,
    /// the consumer or consumer group it is for
    pub consumer: String,
    pub kind: BackfillKind,
    /// the table, as entries name it (`public.products`)
    pub entity: String,
    pub state: BackfillState,
    /// rows logged so far (the `Read` entries sent)
    pub rows_done: i64,
    /// the table's row estimate when it was asked for (`pg_class.reltuples`);
    /// `None` when the table was never analyzed
    pub rows_estimated: Option<i64>,
    /// rows read but not logged: a change in the stream carries a newer state
    pub rows_superseded: i64,
    /// rows logged per second since it started (to its end, or now); `None` before
    pub rate: Option<f64>,
    /// chunks logged
    pub chunks: i32,
    /// chunks read again (an update without its TOASTed value superseded a row)
    pub retries: i32,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// why it failed or was skipped
    pub error: Option<String>,
}

impl BackfillInfo {
    fn from_row(r: &Row) -> Result<BackfillInfo> {
        let kind: String = r.try_get(2)?;
        let state: String = r.try_get(4)?;
        let created: UnixMicros = r.try_get(11)?;
        let started: Option<UnixMicros> = r.try_get(12)?;
        let finished: Option<UnixMicros> = r.try_get(13)?;
        Ok(BackfillInfo {
            id: r.try_get(0)?,
            consumer: r.try_get(1)?,
            kind: kind.parse()?,
            entity: r.try_get(3)?,
            state: state.parse()?,
            rows_done: r.try_get::<_, Option<i64>>(5)?.unwrap_or(0),
            rows_estimated: r.try_get(6)?,
            rows_superseded: r.try_get::<_, Option<i64>>(7)?.unwrap_or(0),
            rate: r.try_get(8)?,
            chunks: r.try_get::<_, Option<i32>>(9)?.unwrap_or(0),
            retries: r.try_get::<_, Option<i32>>(10)?.unwrap_or(0),
            created_at: created.0,
            started_at: started.map(|t| t.0),
            finished_at: finished.map(|t| t.0),
            error: r.try_get(14)?,
        })
    }
}

impl Client {
    /// `cdc.backfill`: send the current rows of the tables the consumer or
    /// consumer group `consumer` receives (narrowed by `entities`, glob
    /// patterns as in the filters; `None`: every table it receives) to it
    /// alone, as entries with operation `Read`, in cursor order with the
    /// changes.  Transactional; the log writer does the work, `backfills()`
    /// follows it.  Returns the backfill's id (one for all its tables).
    ///
    /// The server's errors come as `Error::Server` with their SQLSTATE:
    /// `42704` no such consumer or group, `22023` no table to backfill (or
    /// `entities` empty), `55006` every table asked for is being backfilled
    /// for it already, `42501` another role's.  A table without a key is
    /// skipped (a WARNING, and `BackfillState::Skipped`).
    pub async fn backfill(&self, consumer: &str, entities: Option<&[&str]>) -> Result<i64> {
        let rows = self.run("SELECT cdc.backfill($1::text, $2::text[])", &[&consumer, &entities]).await?;
        Ok(rows[0].try_get(0)?)
    }

    /// `cdc.cancel_backfill`: stop backfill `id` (transactional); returns how
    /// many of its tables had not finished (0 when all had, or it was
    /// cancelled before).  The rows already logged stay in the stream.
    /// `42704` when there is no backfill `id` this role may use.
    pub async fn cancel_backfill(&self, id: i64) -> Result<i32> {
        let rows = self.run("SELECT cdc.cancel_backfill($1::int8)", &[&id]).await?;
        Ok(rows[0].try_get(0)?)
    }

    /// The backfills of the consumers and groups this role may use
    /// (`cdc.backfills`), one entry per table, ordered by id and entity.
    pub async fn backfills(&self) -> Result<Vec<BackfillInfo>> {
        let rows = self
            .run(
                "SELECT id, consumer, kind, entity, state, rows_done, rows_estimated, rows_superseded, \
                 rate::float8, chunks, retries, created_at, started_at, finished_at, error \
                 FROM cdc.backfills ORDER BY id, entity",
                &[],
            )
            .await?;
        rows.iter().map(BackfillInfo::from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip() {
        for s in [
            BackfillState::Pending,
            BackfillState::Running,
            BackfillState::Done,
            BackfillState::Cancelled,
            BackfillState::Failed,
            BackfillState::Skipped,
        ] {
            assert_eq!(s.as_str().parse::<BackfillState>().unwrap(), s);
            assert_eq!(s.is_finished(), !matches!(s, BackfillState::Pending | BackfillState::Running));
        }
        assert!("paused".parse::<BackfillState>().is_err());
        for k in [BackfillKind::Consumer, BackfillKind::Group] {
            assert_eq!(k.as_str().parse::<BackfillKind>().unwrap(), k);
        }
        assert!("member".parse::<BackfillKind>().is_err());
    }
}
