//! GroupMember: one member of a consumer group (`cdc.read_group`, `ack`,
//! `nack`, `pending`, `claim`; src/api/groups.sql).  A change is leased to
//! one member at a time and delivered again when its lease expires, so
//! delivery is at-least-once; acknowledging in the transaction of your own
//! writes (`ack_in`) makes it exactly-once.  Changes to the same row reach
//! one member at a time, in cursor order.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::client::{Client, Tx};
use crate::conn::Conn;
use crate::entry::{ChangeEntry, GroupEntry, ENTRY_COLUMNS, ENTRY_WIDTH};
use crate::error::{classify, is_connection_error, Error, Result};
use crate::lsn::Lsn;

/// Options of `GroupMember::read`.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// at most this many changes per lease (default 100)
    pub batch_size: i32,
    /// how long a lease lasts before the change goes to another member (default 30 s)
    pub visibility_timeout: Duration,
    /// how long the server waits for a first change (default 0)
    pub batch_timeout: Duration,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions { batch_size: 100, visibility_timeout: Duration::from_secs(30), batch_timeout: Duration::from_millis(0) }
    }
}

/// A leased, unacknowledged change (`cdc.pending`).
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub commit_lsn: Lsn,
    pub seq: i32,
    pub member: String,
    pub delivery_count: i32,
    /// time since it was delivered
    pub idle: Duration,
}

/// One member of a consumer group, with a connection of its own.
pub struct GroupMember {
    client: Client,
    group: String,
    member: String,
    conn: Mutex<Option<Conn>>,
}

fn ms(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

fn group_entries(rows: &[Row]) -> Result<Vec<GroupEntry>> {
    rows.iter()
        .map(|r| Ok(GroupEntry { change: ChangeEntry::from_row(r)?, delivery_count: r.try_get(ENTRY_WIDTH)? }))
        .collect()
}

impl GroupMember {
    pub(crate) fn new(client: Client, group: &str, member: &str) -> GroupMember {
        GroupMember { client, group: group.to_string(), member: member.to_string(), conn: Mutex::new(None) }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn member(&self) -> &str {
        &self.member
    }

    /// A statement on the member's connection, retried once when it was lost.
    async fn run(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut guard = self.conn.lock().await;
        let mut attempt = 0;
        loop {
            if guard.as_ref().map_or(true, |c| c.is_closed()) {
                *guard = Some(Conn::open(&self.client.inner.config).await?);
            }
            let c = guard.as_ref().expect("connected").client.clone();
            match c.query(sql, params).await.map_err(|e| classify(e, None)) {
                Ok(r) => return Ok(r),
                Err(e) if is_connection_error(&e) && attempt < 1 => {
                    attempt += 1;
                    if let Some(old) = guard.take() {
                        old.abandon();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Lease the next changes (at most `batch_size`; empty when there are none).
    pub async fn read(&self, o: ReadOptions) -> Result<Vec<GroupEntry>> {
        let sql = format!(
            "SELECT {}, e.delivery_count FROM cdc.read_group($1::text, $2::text, batch_size => $3::int4, \
             visibility_timeout => $4::int8 * interval '1 millisecond', \
             batch_timeout => $5::int8 * interval '1 millisecond') e",
            ENTRY_COLUMNS
        );
        let rows = self
            .run(&sql, &[&self.group, &self.member, &o.batch_size, &ms(o.visibility_timeout), &ms(o.batch_timeout)])
            .await?;
        group_entries(&rows)
    }

    fn positions(changes: &[GroupEntry]) -> (Vec<Lsn>, Vec<i32>) {
        (changes.iter().map(|c| c.commit_lsn).collect(), changes.iter().map(|c| c.seq).collect())
    }

    /// Acknowledge changes (all or nothing), on the member's connection.
    pub async fn ack(&self, changes: &[GroupEntry]) -> Result<i32> {
        self.settle("ack", None, changes).await
    }

    /// Acknowledge changes in your transaction (`Client::begin`, or
    /// consume's): they count as done only if it commits.
    pub async fn ack_in(&self, tx: &Tx, changes: &[GroupEntry]) -> Result<i32> {
        self.settle("ack", Some(tx), changes).await
    }

    /// Give changes back for delivery now (to any member).
    pub async fn nack(&self, changes: &[GroupEntry]) -> Result<i32> {
        self.settle("nack", None, changes).await
    }

    async fn settle(&self, f: &str, tx: Option<&Tx>, changes: &[GroupEntry]) -> Result<i32> {
        if changes.is_empty() {
            return Ok(0);
        }
        let (lsns, seqs) = Self::positions(changes);
        let sql = format!("SELECT cdc.{}($1::text, $2::pg_lsn[], $3::int4[])", f);
        let rows = match tx {
            Some(tx) => tx.client.query(sql.as_str(), &[&self.group, &lsns, &seqs]).await.map_err(Error::from)?,
            None => self.run(&sql, &[&self.group, &lsns, &seqs]).await?,
        };
        Ok(rows[0].try_get(0)?)
    }

    /// The group's leased, unacknowledged changes (this member's when `mine`).
    pub async fn pending(&self, mine: bool) -> Result<Vec<Pending>> {
        let member: Option<&str> = if mine { Some(self.member.as_str()) } else { None };
        let rows = self
            .run(
                "SELECT commit_lsn, seq, member, delivery_count, (extract(epoch FROM idle) * 1000)::int8 \
                 FROM cdc.pending($1::text, $2::text) ORDER BY commit_lsn, seq",
                &[&self.group, &member],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Pending {
                    commit_lsn: r.try_get(0)?,
                    seq: r.try_get(1)?,
                    member: r.try_get(2)?,
                    delivery_count: r.try_get(3)?,
                    idle: Duration::from_millis(r.try_get::<_, i64>(4)?.max(0) as u64),
                })
            })
            .collect()
    }

    /// Take over other members' leases idle for at least `min_idle` (a dead
    /// member's); returns the changes, delivered again.
    pub async fn claim(&self, min_idle: Duration) -> Result<Vec<GroupEntry>> {
        let sql = format!(
            "SELECT {}, e.delivery_count FROM cdc.claim($1::text, $2::text, $3::int8 * interval '1 millisecond') e",
            ENTRY_COLUMNS
        );
        let rows = self.run(&sql, &[&self.group, &self.member, &ms(min_idle)]).await?;
        group_entries(&rows)
    }
}
