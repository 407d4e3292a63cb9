//! Client: the entry point.  One connection of its own for one-off
//! statements (consumers, checkpoints, status, lag), retried on a new
//! connection when it was lost; every ChangeStream, consume() loop and group
//! member opens its own, so that a long poll never holds up anything else.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, Row};

use crate::conn::Conn;
use crate::entry::{ChangeEntry, Operation, ENTRY_COLUMNS};
use crate::error::{classify, is_connection_error, is_retryable, Backoff, Error, Gap, Reconnect, Result};
use crate::group::GroupMember;
use crate::lsn::Lsn;
use crate::stream::{ChangeStreamBuilder, Closer};

/// A client of the `cdc` SQL API of one database.  Cheap to clone (shared).
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    pub(crate) config: Config,
    conn: Mutex<Option<Conn>>,
}

/// Where a new consumer or group starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// the current WAL position (default)
    Now,
    /// everything the log retains
    Beginning,
    /// changes committed at or after this position
    Lsn(Lsn),
    /// changes committed at or after this time (microseconds since the Unix epoch)
    Timestamp(i64),
    /// As `Now`, and first every current row of the tables it receives:
    /// a backfill of them is asked for in the same transaction as the
    /// creation (docs/backfill.md).  The rows arrive as entries with
    /// operation `Read`, in cursor order with the changes, to this consumer
    /// or group alone; `Client::backfills()` shows the progress.  A table
    /// without a primary key (or replica identity index) is skipped.
    Snapshot,
}

impl Default for Start {
    fn default() -> Start {
        Start::Now
    }
}

/// Filters and start of a new consumer (or group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// glob patterns of tables to include (None: all)
    pub entities: Option<Vec<String>>,
    /// glob patterns of tables to leave out
    pub exclude_entities: Option<Vec<String>>,
    /// operations to receive (None: insert, update, delete, truncate; name
    /// `Schema` or `Message` to receive those too; never `Read`: a
    /// backfill's rows reach who asked whatever this says)
    pub operations: Option<Vec<Operation>>,
    /// where it starts (default `Start::Now`; `Start::Snapshot`: first the
    /// tables' current rows)
    pub start: Start,
}

/// How far a consumer is behind.
#[derive(Clone, Debug, PartialEq)]
pub struct Lag {
    pub checkpoint_lsn: Lsn,
    pub checkpoint_seq: i32,
    pub current_lsn: Lsn,
    /// WAL bytes between the checkpoint and the current position
    pub bytes: u64,
    /// log rows after the checkpoint (an upper bound: filters not applied)
    pub changes: Option<i64>,
    /// age of the oldest unread change
    pub seconds: Option<f64>,
    /// whether the consumer has a gap
    pub gap: bool,
}

/// `cdc.status()`, the parts a client asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub enabled: bool,
    pub writer_running: bool,
    pub current_lsn: Lsn,
    pub oldest_lsn: Option<Lsn>,
    pub retention: Option<String>,
    pub disk_usage_bytes: Option<i64>,
    pub consumers: i32,
    pub consumers_with_gap: i32,
}

/// What a consume() run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumeSummary {
    pub batches: u64,
    pub changes: u64,
}

/// Options of consume().
#[derive(Clone, Debug)]
pub struct ConsumeOptions {
    /// changes per batch (default 1000)
    pub batch_size: i32,
    /// how long the server waits for a first change (default 1 s)
    pub batch_timeout: Duration,
    /// stop after this many non-empty batches
    pub max_batches: Option<u64>,
    /// stop at the first empty batch (drain and return)
    pub until_empty: bool,
    /// stop when closed (the batch in progress is finished first)
    pub closer: Option<Closer>,
    pub reconnect: Reconnect,
}

impl Default for ConsumeOptions {
    fn default() -> ConsumeOptions {
        ConsumeOptions {
            batch_size: 1000,
            batch_timeout: Duration::from_secs(1),
            max_batches: None,
            until_empty: false,
            closer: None,
            reconnect: Reconnect::default(),
        }
    }
}

/// Statements inside a transaction of the client's: consume()'s batch
/// transaction, or one from `Client::begin()`.  Cloneable so that a handler
/// can move it into its future.
#[derive(Clone)]
pub struct Tx {
    pub(crate) client: Arc<tokio_postgres::Client>,
}

impl Tx {
    /// Run a statement; the number of rows it touched.
    pub async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        self.client.execute(sql, params).await.map_err(Error::from)
    }

    /// Run a query; its rows.
    pub async fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.client.query(sql, params).await.map_err(Error::from)
    }

    /// The connection itself (tokio-postgres), inside the transaction.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }
}

/// A transaction on a connection of its own (`Client::begin`): write your
/// results and acknowledge a group's changes (`GroupMember::ack_in`) in it,
/// then commit both at once.
pub struct Transaction {
    tx: Tx,
    conn: Option<Conn>,
}

impl std::ops::Deref for Transaction {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl Transaction {
    pub async fn commit(mut self) -> Result<()> {
        let r = self.tx.client.batch_execute("COMMIT").await.map_err(Error::from);
        drop(self.conn.take());
        r
    }

    pub async fn rollback(mut self) -> Result<()> {
        let r = self.tx.client.batch_execute("ROLLBACK").await.map_err(Error::from);
        drop(self.conn.take());
        r
    }
}

impl Drop for Transaction {
    /// Not committed: the connection closes, the server rolls back.
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.abandon();
        }
    }
}

pub(crate) fn micros_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_micros() as i64,
        Err(e) => -(e.duration().as_micros() as i64),
    }
}

pub(crate) fn op_names(ops: &Option<Vec<Operation>>) -> Option<Vec<String>> {
    ops.as_ref().map(|v| v.iter().map(|o| o.as_str().to_string()).collect())
}

/// SQL of a start position: 'now' | 'beginning' | 'snapshot' | an LSN | a
/// timestamptz, as the text argument `start` of cdc.create_consumer /
/// cdc.create_group;
/// the timestamp travels as microseconds ($n) and is turned into text by
/// the server in its own DateStyle.
fn start_args(s: Start) -> (Option<String>, Option<i64>) {
    match s {
        Start::Now => (Some("now".into()), None),
        Start::Beginning => (Some("beginning".into()), None),
        Start::Snapshot => (Some("snapshot".into()), None),
        Start::Lsn(l) => (Some(l.to_string()), None),
        Start::Timestamp(m) => (None, Some(m)),
    }
}

impl Client {
    /// Connect to the database of `conninfo` (`"host=... port=... user=...
    /// dbname=..."` or `postgres://...`; no TLS).
    pub async fn connect(conninfo: &str) -> Result<Client> {
        let config: Config = conninfo.parse().map_err(|e| Error::Invalid(format!("invalid connection string: {}", e)))?;
        let conn = Conn::open(&config).await?;
        Ok(Client { inner: Arc::new(ClientInner { config, conn: Mutex::new(Some(conn)) }) })
    }

    /// Connect as `conninfo_from_env()` says (`DATABASE_URL` or the `PG*` variables).
    pub async fn connect_env() -> Result<Client> {
        Client::connect(&crate::conninfo_from_env()).await
    }

    /// Changes of a consumer (or of a temporary one, from now, when none is
    /// named): a builder to configure, then `.await` into a `ChangeStream`.
    pub fn stream_changes(&self) -> ChangeStreamBuilder {
        ChangeStreamBuilder::new(self.clone())
    }

    /// One statement on the client's own connection, with the lossless
    /// types; retried on a new connection (twice) when it was lost.
    pub(crate) async fn run(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut guard = self.inner.conn.lock().await;
        let mut attempt = 0;
        loop {
            if guard.as_ref().map_or(true, |c| c.is_closed()) {
                match Conn::open(&self.inner.config).await {
                    Ok(c) => *guard = Some(c),
                    Err(e) if attempt < 2 => {
                        attempt += 1;
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let c = guard.as_ref().expect("connected").client.clone();
            match c.query(sql, params).await.map_err(|e| classify(e, None)) {
                Ok(rows) => return Ok(rows),
                Err(e) if is_connection_error(&e) && attempt < 2 => {
                    attempt += 1;
                    if let Some(old) = guard.take() {
                        old.abandon();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `cdc.current_lsn()`: the current WAL position.
    pub async fn current_lsn(&self) -> Result<Lsn> {
        let rows = self.run("SELECT cdc.current_lsn()", &[]).await?;
        Ok(rows[0].try_get(0)?)
    }

    /// `cdc.create_consumer`: transactional; returns the position it starts
    /// at.  With `Start::Snapshot`, a backfill of every table it receives is
    /// asked for in the same transaction (see `backfill()`).
    pub async fn create_consumer(&self, name: &str, options: &ConsumerOptions) -> Result<Lsn> {
        let (start, ts) = start_args(options.start);
        let rows = self
            .run(
                "SELECT cdc.create_consumer($1::text, $2::text[], $3::text[], $4::text[]::cdc.operation[], \
                 coalesce($5::text, (timestamptz 'epoch' + $6::int8 * interval '1 microsecond')::text))",
                &[&name, &options.entities, &options.exclude_entities, &op_names(&options.operations), &start, &ts],
            )
            .await?;
        Ok(rows[0].try_get(0)?)
    }

    /// `cdc.drop_consumer`: true when it existed.
    pub async fn drop_consumer(&self, name: &str) -> Result<bool> {
        let rows = self.run("SELECT cdc.drop_consumer($1::text)", &[&name]).await?;
        Ok(rows[0].try_get(0)?)
    }

    /// Names of the consumers this role may see (`cdc.consumers`).
    pub async fn list_consumers(&self) -> Result<Vec<String>> {
        let rows = self.run("SELECT name FROM cdc.consumers ORDER BY name", &[]).await?;
        rows.iter().map(|r| r.try_get(0).map_err(Error::from)).collect()
    }

    /// Commit a consumer's checkpoint at this change: every change up to it
    /// is done (docs/log.md).  Transactional, on the client's connection.
    pub async fn checkpoint(&self, consumer: &str, change: &ChangeEntry) -> Result<()> {
        self.checkpoint_at(consumer, change.commit_lsn, change.seq).await
    }

    /// `cdc.checkpoint(consumer, commit_lsn, seq)`.
    pub async fn checkpoint_at(&self, consumer: &str, commit_lsn: Lsn, seq: i32) -> Result<()> {
        self.run("SELECT cdc.checkpoint($1::text, $2::pg_lsn, $3::int4)", &[&consumer, &commit_lsn, &seq]).await?;
        Ok(())
    }

    /// Accept a gap once the target was re-synced from a snapshot: the
    /// checkpoint moves to the end of the lost range (the server's hint).
    pub async fn accept_gap(&self, consumer: &str, gap: &Gap) -> Result<()> {
        self.checkpoint_at(consumer, gap.to, 0).await
    }

    /// How far a consumer is behind (`cdc.consumers` against the current position).
    pub async fn lag(&self, consumer: &str) -> Result<Lag> {
        let rows = self
            .run(
                "SELECT c.checkpoint_lsn, c.checkpoint_seq, cdc.current_lsn(), c.lag_changes, \
                 c.lag_seconds::float8, c.gap FROM cdc.consumers c WHERE c.name = $1::text",
                &[&consumer],
            )
            .await?;
        let r = rows.get(0).ok_or_else(|| Error::Invalid(format!("consumer \"{}\" does not exist (or is not yours)", consumer)))?;
        let cp: Lsn = r.try_get(0)?;
        let cur: Lsn = r.try_get(2)?;
        Ok(Lag {
            checkpoint_lsn: cp,
            checkpoint_seq: r.try_get(1)?,
            current_lsn: cur,
            bytes: cur - cp,
            changes: r.try_get(3)?,
            seconds: r.try_get(4)?,
            gap: r.try_get::<_, Option<bool>>(5)?.unwrap_or(false),
        })
    }

    /// `cdc.status()`.
    pub async fn status(&self) -> Result<Status> {
        let rows = self
            .run(
                "SELECT enabled, writer_running, current_lsn, oldest_lsn, retention, disk_usage_bytes, \
                 consumers, consumers_with_gap FROM cdc.status()",
                &[],
            )
            .await?;
        let r = &rows[0];
        Ok(Status {
            enabled: r.try_get::<_, Option<bool>>(0)?.unwrap_or(false),
            writer_running: r.try_get::<_, Option<bool>>(1)?.unwrap_or(false),
            current_lsn: r.try_get(2)?,
            oldest_lsn: r.try_get(3)?,
            retention: r.try_get(4)?,
            disk_usage_bytes: r.try_get(5)?,
            consumers: r.try_get::<_, Option<i32>>(6)?.unwrap_or(0),
            consumers_with_gap: r.try_get::<_, Option<i32>>(7)?.unwrap_or(0),
        })
    }

    /// A transaction on a connection of its own (for `GroupMember::ack_in`
    /// beside your writes).
    pub async fn begin(&self) -> Result<Transaction> {
        let conn = Conn::open(&self.inner.config).await?;
        conn.client.batch_execute("BEGIN").await.map_err(Error::from)?;
        Ok(Transaction { tx: Tx { client: conn.client.clone() }, conn: Some(conn) })
    }

    /// Exactly-once processing, running until stopped (see `consume_with`).
    pub async fn consume<F, Fut>(&self, consumer: &str, handler: F) -> Result<ConsumeSummary>
    where
        F: FnMut(Vec<ChangeEntry>, Tx) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        self.consume_with(consumer, ConsumeOptions::default(), handler).await
    }

    /// Exactly-once processing: each batch of `cdc.consume()` and the
    /// handler's writes through `tx` commit in one transaction, with the
    /// consumer's checkpoint moved past the batch; a crash at any point
    /// leaves every change processed exactly once.  When the handler returns
    /// an error the transaction rolls back (the batch comes again) and the
    /// error is returned.  A lost connection or a busy consumer (55006) is
    /// retried with backoff.
    pub async fn consume_with<F, Fut>(&self, consumer: &str, o: ConsumeOptions, mut handler: F) -> Result<ConsumeSummary>
    where
        F: FnMut(Vec<ChangeEntry>, Tx) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let sql = format!(
            "SELECT {} FROM cdc.consume($1::text, batch_size => $2::int4, \
             batch_timeout => $3::int8 * interval '1 millisecond') e",
            ENTRY_COLUMNS
        );
        let timeout_ms = o.batch_timeout.as_millis().min(i64::MAX as u128) as i64;
        let mut backoff = Backoff::new(o.reconnect);
        let mut summary = ConsumeSummary::default();
        let mut closed = o.closer.as_ref().map(|c| c.watch());
        loop {
            if closed.as_ref().map_or(false, |r| *r.borrow()) {
                break;
            }
            if o.max_batches.map_or(false, |m| summary.batches >= m) {
                break;
            }
            let conn = match Conn::open(&self.inner.config).await {
                Ok(c) => c,
                Err(e) => {
                    if !self.wait_retry(&mut backoff, &mut closed).await {
                        return if closed_now(&closed) { Ok(summary) } else { Err(e) };
                    }
                    continue;
                }
            };
            let c = conn.client.clone();
            // one batch: BEGIN, cdc.consume (a long poll, interrupted by the closer)
            let fetched = {
                let read = async {
                    c.batch_execute("BEGIN").await?;
                    c.query(sql.as_str(), &[&consumer, &o.batch_size, &timeout_ms]).await
                };
                match closed.as_mut() {
                    Some(rx) => tokio::select! {
                        r = read => Some(r),
                        _ = rx.changed() => None,
                    },
                    None => Some(read.await),
                }
            };
            let rows = match fetched {
                None => {
                    conn.abandon(); // the open transaction dies with it: nothing consumed
                    break;
                }
                Some(Ok(rows)) => rows,
                Some(Err(e)) => {
                    let e = classify(e, None);
                    conn.abandon();
                    if !is_retryable(&e) {
                        return Err(e);
                    }
                    if !self.wait_retry(&mut backoff, &mut closed).await {
                        return if closed_now(&closed) { Ok(summary) } else { Err(e) };
                    }
                    continue;
                }
            };
            let mut batch = Vec::with_capacity(rows.len());
            for r in &rows {
                batch.push(ChangeEntry::from_row(r)?);
            }
            drop(rows);
            if batch.is_empty() {
                let r = c.batch_execute("COMMIT").await;
                drop(conn);
                if let Err(e) = r {
                    let e = classify(e, None);
                    if !is_retryable(&e) {
                        return Err(e);
                    }
                    continue;
                }
                backoff.reset();
                if o.until_empty {
                    break;
                }
                continue;
            }
            let n = batch.len() as u64;
            let handled = handler(batch, Tx { client: c.clone() }).await;
            match handled {
                Ok(()) => {
                    if let Err(e) = c.batch_execute("COMMIT").await {
                        let e = classify(e, None);
                        conn.abandon();
                        if !is_retryable(&e) {
                            return Err(e);
                        }
                        // whether it committed is unknown: the next batch says
                        if !self.wait_retry(&mut backoff, &mut closed).await {
                            return if closed_now(&closed) { Ok(summary) } else { Err(e) };
                        }
                        continue;
                    }
                    drop(conn);
                    summary.batches += 1;
                    summary.changes += n;
                    backoff.reset();
                }
                Err(e) => {
                    conn.abandon(); // rolls back: the batch comes again
                    if !is_connection_error(&e) {
                        return Err(e);
                    }
                    if !self.wait_retry(&mut backoff, &mut closed).await {
                        return if closed_now(&closed) { Ok(summary) } else { Err(e) };
                    }
                }
            }
        }
        Ok(summary)
    }

    /// Sleep the next backoff delay (false: give up, or closed meanwhile).
    async fn wait_retry(&self, backoff: &mut Backoff, closed: &mut Option<tokio::sync::watch::Receiver<bool>>) -> bool {
        let d = match backoff.next_delay() {
            Some(d) => d,
            None => return false,
        };
        match closed.as_mut() {
            Some(rx) => tokio::select! {
                _ = tokio::time::sleep(d) => !*rx.borrow(),
                _ = rx.changed() => false,
            },
            None => {
                tokio::time::sleep(d).await;
                true
            }
        }
    }

    /// A member of consumer group `group` (see GroupMember).
    pub fn group(&self, group: &str, member: &str) -> GroupMember {
        GroupMember::new(self.clone(), group, member)
    }

    /// `cdc.create_group`: filters and start as for a consumer, and how many
    /// deliveries before a change goes to the dead letters.
    pub async fn create_group(&self, name: &str, options: &ConsumerOptions, max_deliveries: i32) -> Result<Lsn> {
        let (start, ts) = start_args(options.start);
        let rows = self
            .run(
                "SELECT cdc.create_group($1::text, entities => $2::text[], exclude_entities => $3::text[], \
                 operations => $4::text[]::cdc.operation[], \
                 start => coalesce($5::text, (timestamptz 'epoch' + $6::int8 * interval '1 microsecond')::text), \
                 max_deliveries => $7::int4)",
                &[&name, &options.entities, &options.exclude_entities, &op_names(&options.operations), &start, &ts, &max_deliveries],
            )
            .await?;
        Ok(rows[0].try_get(0)?)
    }

    /// `cdc.drop_group`: true when it existed.
    pub async fn drop_group(&self, name: &str) -> Result<bool> {
        let rows = self.run("SELECT cdc.drop_group($1::text)", &[&name]).await?;
        Ok(rows[0].try_get(0)?)
    }
}

fn closed_now(closed: &Option<tokio::sync::watch::Receiver<bool>>) -> bool {
    closed.as_ref().map_or(false, |r| *r.borrow())
}
