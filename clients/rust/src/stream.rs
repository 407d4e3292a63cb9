//! `stream_changes()`: a builder awaited into a ChangeStream, read with
//! `next()` (one change), `next_batch()` or as a `futures::Stream`.
//!
//! Cursor: the position `(commit_lsn, seq)` of the last change handed out.
//! Every round trip reads after it, in one pipelined exchange on the
//! stream's own connection:
//! - through the consumer: `BEGIN; cdc.checkpoint(cursor); cdc.stream(consumer);`
//!   then `COMMIT` when the checkpoint may be kept (automatic checkpoints:
//!   asking for more means what came before is done) or `ROLLBACK` (manual:
//!   reading never consumes, a checkpoint in a rolled-back transaction
//!   included, docs/log.md);
//! - started with from_lsn / from_timestamp / from_beginning (a replay that
//!   ignores the checkpoint): `cdc.stream(from_lsn => cursor's commit_lsn)`.
//! Either way rows at or before the cursor are dropped on arrival, and a
//! round trip that brought only such rows (a transaction larger than the
//! batch, read again from its start) is repeated with a larger batch, so the
//! stream always progresses.
//!
//! A lost connection (server restart, terminated backend), a busy consumer
//! and a serialization failure are retried on a new connection with backoff,
//! from the cursor: nothing lost, nothing repeated.  A gap is `Error::Gap`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_postgres::Statement;

use crate::client::{micros_of, op_names, Client};
use crate::conn::Conn;
use crate::entry::{ChangeEntry, Operation, ENTRY_COLUMNS};
use crate::error::{classify, is_connection_error, is_retryable, Backoff, Error, Reconnect, Result};
use crate::lsn::Lsn;

/// A commit time to start from: a `SystemTime`, or microseconds since the
/// Unix epoch (a `ChangeEntry::timestamp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartTime(pub i64);

impl From<SystemTime> for StartTime {
    fn from(t: SystemTime) -> StartTime {
        StartTime(micros_of(t))
    }
}

impl From<i64> for StartTime {
    fn from(micros: i64) -> StartTime {
        StartTime(micros)
    }
}

#[derive(Clone, Debug)]
struct StreamOptions {
    consumer: Option<String>,
    from_lsn: Option<Lsn>,
    from_timestamp: Option<i64>,
    from_beginning: bool,
    entities: Option<Vec<String>>,
    exclude_entities: Option<Vec<String>>,
    operations: Option<Vec<Operation>>,
    snapshot: bool,
    batch_size: i32,
    batch_timeout: Duration,
    auto_checkpoint: bool,
    reconnect: Reconnect,
}

/// Stops a ChangeStream (or a consume() loop) from anywhere: the stream's
/// next read returns `None`, also in the middle of a long poll.
#[derive(Clone, Debug)]
pub struct Closer {
    tx: Arc<watch::Sender<bool>>,
}

impl Closer {
    /// A closer not yet tied to a stream (for `ConsumeOptions::closer`).
    pub fn new() -> Closer {
        let (tx, _) = watch::channel(false);
        Closer { tx: Arc::new(tx) }
    }

    pub fn close(&self) {
        self.tx.send_replace(true);
    }

    pub fn is_closed(&self) -> bool {
        *self.tx.borrow()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    /// Close after `d` (spawned on the current runtime).
    pub fn close_after(&self, d: Duration) {
        let c = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            c.close();
        });
    }
}

impl Default for Closer {
    fn default() -> Closer {
        Closer::new()
    }
}

/// The builder `client.stream_changes()` returns: set options, then `.await`
/// it (or `.start().await`) into a ChangeStream.
pub struct ChangeStreamBuilder {
    client: Client,
    opts: StreamOptions,
    closer: Option<Closer>,
    fut: Option<Pin<Box<dyn Future<Output = Result<ChangeStream>> + Send>>>,
}

impl ChangeStreamBuilder {
    pub(crate) fn new(client: Client) -> ChangeStreamBuilder {
        ChangeStreamBuilder {
            client,
            opts: StreamOptions {
                consumer: None,
                from_lsn: None,
                from_timestamp: None,
                from_beginning: false,
                entities: None,
                exclude_entities: None,
                operations: None,
                snapshot: false,
                batch_size: 1000,
                batch_timeout: Duration::from_secs(1),
                auto_checkpoint: true,
                reconnect: Reconnect::default(),
            },
            closer: None,
            fut: None,
        }
    }

    /// Read this consumer (`cdc.create_consumer`) from its checkpoint.
    /// Without one, a temporary consumer is made from now, with the
    /// stream's filters, and dropped when the stream is closed.
    pub fn consumer(mut self, name: &str) -> Self {
        self.opts.consumer = Some(name.to_string());
        self
    }

    /// Replay changes committed at or after this position (the whole
    /// retained log, whatever the consumer's checkpoint).
    pub fn from_lsn<L: Into<Lsn>>(mut self, lsn: L) -> Self {
        self.opts.from_lsn = Some(lsn.into());
        self
    }

    /// Replay changes committed at or after this time.
    pub fn from_timestamp<T: Into<StartTime>>(mut self, t: T) -> Self {
        self.opts.from_timestamp = Some(t.into().0);
        self
    }

    /// Replay everything the log retains.
    pub fn from_beginning(mut self) -> Self {
        self.opts.from_beginning = true;
        self
    }

    /// Only these tables (glob patterns: `orders`, `public.order_*`);
    /// narrows the consumer's stored filters.
    pub fn entities<I, S>(mut self, list: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opts.entities = Some(list.into_iter().map(Into::into).collect());
        self
    }

    /// Leave these tables out (glob patterns).
    pub fn exclude_entities<I, S>(mut self, list: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.opts.exclude_entities = Some(list.into_iter().map(Into::into).collect());
        self
    }

    /// Only these operations.
    pub fn operations<I: IntoIterator<Item = Operation>>(mut self, ops: I) -> Self {
        self.opts.operations = Some(ops.into_iter().collect());
        self
    }

    /// The temporary consumer (no `consumer()`) starts with a snapshot:
    /// first every current row of the tables it receives, as entries with
    /// operation `Read`, then the changes (`Start::Snapshot`,
    /// docs/backfill.md).  A named consumer's start was set when it was
    /// created: with `consumer()` the stream refuses to open
    /// (`Error::Invalid`); `Client::backfill()` sends it the rows again.
    pub fn snapshot(mut self) -> Self {
        self.opts.snapshot = true;
        self
    }

    /// Changes per round trip, an exact cap (default 1000).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.opts.batch_size = n.clamp(1, i32::MAX as usize) as i32;
        self
    }

    /// How long the server waits for a first change (a long poll woken by
    /// the log writer; default 1 s).  `next_batch()` returns an empty batch
    /// when nothing came within it; `next()` asks again.
    pub fn batch_timeout(mut self, d: Duration) -> Self {
        self.opts.batch_timeout = d;
        self
    }

    /// true (default): asking for more checkpoints what was handed out
    /// before (at-least-once); false: only `checkpoint()` moves the
    /// consumer's checkpoint.
    pub fn auto_checkpoint(mut self, on: bool) -> Self {
        self.opts.auto_checkpoint = on;
        self
    }

    /// Reconnection policy (default: forever, 100 ms doubling up to 10 s).
    pub fn reconnect(mut self, r: Reconnect) -> Self {
        self.opts.reconnect = r;
        self
    }

    /// Use this closer to stop the stream from elsewhere.
    pub fn closer(mut self, c: &Closer) -> Self {
        self.closer = Some(c.clone());
        self
    }

    /// Open the stream (what `.await` on the builder does).
    pub async fn start(self) -> Result<ChangeStream> {
        ChangeStream::open(self.client, self.opts, self.closer).await
    }
}

impl Future for ChangeStreamBuilder {
    type Output = Result<ChangeStream>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<ChangeStream>> {
        let this = self.get_mut();
        if this.fut.is_none() {
            let (client, opts, closer) = (this.client.clone(), this.opts.clone(), this.closer.clone());
            this.fut = Some(Box::pin(ChangeStream::open(client, opts, closer)));
        }
        this.fut.as_mut().expect("set above").as_mut().poll(cx)
    }
}

/// An open stream of changes (see the module's documentation).
pub struct ChangeStream {
    inner: Option<Box<Inner>>,
    /// a `poll_next` in progress: the state moves into it and back
    pending: Option<Pin<Box<dyn Future<Output = (Box<Inner>, Result<Option<ChangeEntry>>)> + Send>>>,
}

struct Inner {
    client: Client,
    opts: StreamOptions,
    consumer: String,
    temporary: bool,
    created: bool,
    replay: bool,
    conn: Option<Conn>,
    stmts: Option<(Statement, Statement)>,
    /// a round trip was left unfinished (its future dropped): the
    /// connection's state is unknown, so it is not used again
    in_flight: bool,
    cursor: Option<(Lsn, i32)>,
    committed: Option<(Lsn, i32)>,
    buffer: VecDeque<ChangeEntry>,
    closer: Closer,
    closed_rx: watch::Receiver<bool>,
    closed: bool,
    backoff: Backoff,
}

enum Fetched {
    Rows(Vec<ChangeEntry>),
    Again,
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    format!("{:08x}", h.finish() as u32)
}

impl ChangeStream {
    async fn open(client: Client, opts: StreamOptions, closer: Option<Closer>) -> Result<ChangeStream> {
        let closer = closer.unwrap_or_default();
        let temporary = opts.consumer.is_none();
        if opts.snapshot && !temporary {
            return Err(Error::Invalid(format!(
                "stream_changes: snapshot() applies to the temporary consumer only; consumer \"{}\" started when it was created \
                 (Client::backfill() sends the tables' current rows to it)",
                opts.consumer.as_deref().unwrap_or_default()
            )));
        }
        let consumer = opts.consumer.clone().unwrap_or_else(|| format!("tmp-{}-{}", std::process::id(), random_suffix()));
        let replay = opts.from_lsn.is_some() || opts.from_timestamp.is_some() || opts.from_beginning;
        let mut inner = Box::new(Inner {
            closed_rx: closer.watch(),
            closer,
            backoff: Backoff::new(opts.reconnect),
            client,
            consumer,
            temporary,
            created: false,
            replay,
            conn: None,
            stmts: None,
            in_flight: false,
            cursor: None,
            committed: None,
            buffer: VecDeque::new(),
            closed: false,
            opts,
        });
        // connect now, so that a server that is down (or a bad filter of a
        // temporary consumer) is reported by the await of the builder
        loop {
            match inner.prepare().await {
                Ok(()) => break,
                Err(e) if is_retryable(&e) => {
                    inner.drop_conn(true);
                    if !inner.wait_retry().await {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        inner.backoff.reset();
        Ok(ChangeStream { inner: Some(inner), pending: None })
    }

    /// The consumer read (a temporary one is named `tmp-<pid>-<random>`).
    pub fn consumer(&self) -> &str {
        &self.inner.as_ref().expect("stream state present").consumer
    }

    /// The position `(commit_lsn, seq)` of the last change handed out.
    pub fn position(&self) -> Option<(Lsn, i32)> {
        self.inner.as_ref().and_then(|i| i.cursor)
    }

    /// A handle that stops this stream from elsewhere.
    pub fn closer(&self) -> Closer {
        self.inner.as_ref().expect("stream state present").closer.clone()
    }

    /// A `poll_next` that was left unfinished: wait for it and keep its result.
    async fn settle(&mut self) -> Option<Result<Option<ChangeEntry>>> {
        let f = self.pending.take()?;
        let (inner, r) = f.await;
        self.inner = Some(inner);
        Some(r)
    }

    fn state(&mut self) -> &mut Inner {
        self.inner.as_mut().expect("stream state present")
    }

    /// The next change; waits until one arrives.  `None` once the stream
    /// is closed.  With automatic checkpoints, asking for the next change
    /// means the ones handed out before are done.
    pub async fn next(&mut self) -> Result<Option<ChangeEntry>> {
        if let Some(r) = self.settle().await {
            return r;
        }
        self.state().next().await
    }

    /// The next batch: up to `batch_size` changes, empty when nothing came
    /// within `batch_timeout`; `None` once the stream is closed.  With
    /// automatic checkpoints, asking for a batch checkpoints the one before.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<ChangeEntry>>> {
        if let Some(r) = self.settle().await {
            return r.map(|o| o.map(|e| vec![e]));
        }
        self.state().next_batch().await
    }

    /// Commit the consumer's checkpoint at this change: every change up to
    /// it is done (docs/log.md).  Transactional, on the stream's connection.
    pub async fn checkpoint(&mut self, change: &ChangeEntry) -> Result<()> {
        let _ = self.settle().await;
        self.state().checkpoint(change.commit_lsn, change.seq).await
    }

    /// Stop: close the connection, drop a temporary consumer.
    pub async fn close(&mut self) -> Result<()> {
        let _ = self.settle().await;
        self.state().close().await
    }
}

impl Drop for ChangeStream {
    /// A temporary consumer is dropped in the background (when a runtime runs).
    fn drop(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            if let Some(c) = inner.conn.take() {
                c.abandon();
            }
            if inner.temporary && inner.created {
                if let Ok(h) = tokio::runtime::Handle::try_current() {
                    let client = inner.client.clone();
                    let name = inner.consumer.clone();
                    h.spawn(async move {
                        let _ = client.drop_consumer(&name).await;
                    });
                }
            }
        }
    }
}

impl futures::Stream for ChangeStream {
    type Item = Result<ChangeEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<ChangeEntry>>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            let inner = this.inner.as_mut().expect("stream state present");
            if let Some(e) = inner.buffer.pop_front() {
                inner.cursor = Some(e.position());
                return Poll::Ready(Some(Ok(e)));
            }
            let mut inner = this.inner.take().expect("stream state present");
            this.pending = Some(Box::pin(async move {
                let r = inner.next().await;
                (inner, r)
            }));
        }
        match this.pending.as_mut().expect("set above").as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready((inner, r)) => {
                this.pending = None;
                this.inner = Some(inner);
                Poll::Ready(r.transpose())
            }
        }
    }
}

impl Inner {
    fn is_closed(&self) -> bool {
        self.closed || *self.closed_rx.borrow()
    }

    fn drop_conn(&mut self, abandon: bool) {
        self.stmts = None;
        self.in_flight = false;
        if let Some(c) = self.conn.take() {
            if abandon {
                c.abandon();
            }
        }
    }

    /// Connect, prepare the two statements, create a temporary consumer.
    async fn prepare(&mut self) -> Result<()> {
        if self.in_flight || self.conn.as_ref().map_or(false, |c| c.is_closed()) {
            self.drop_conn(true);
        }
        if self.conn.is_none() {
            self.conn = Some(Conn::open(&self.client.inner.config).await?);
        }
        let c = self.conn.as_ref().expect("connected").client.clone();
        if self.temporary && !self.created {
            // the stream's filters are the consumer's; with snapshot(), its
            // backfill is asked for in the transaction that creates it
            let o = &self.opts;
            let start = if o.snapshot { "snapshot" } else { "now" };
            c.query(
                "SELECT cdc.create_consumer($1::text, $2::text[], $3::text[], $4::text[]::cdc.operation[], $5::text)",
                &[&self.consumer, &o.entities, &o.exclude_entities, &op_names(&o.operations), &start],
            )
            .await
            .map_err(|e| classify(e, None))?;
            self.created = true;
        }
        if self.stmts.is_none() {
            let stream = c
                .prepare(&format!(
                    "SELECT {} FROM cdc.stream($1::text, from_lsn => $2::pg_lsn, \
                     from_timestamp => timestamptz 'epoch' + $3::int8 * interval '1 microsecond', \
                     from_beginning => $4::bool, entities => $5::text[], exclude_entities => $6::text[], \
                     operations => $7::text[]::cdc.operation[], batch_size => $8::int4, \
                     batch_timeout => $9::int8 * interval '1 millisecond') e",
                    ENTRY_COLUMNS
                ))
                .await
                .map_err(|e| classify(e, None))?;
            let cp = c.prepare("SELECT cdc.checkpoint($1::text, $2::pg_lsn, $3::int4)").await.map_err(|e| classify(e, None))?;
            self.stmts = Some((stream, cp));
        }
        Ok(())
    }

    /// Sleep the next backoff delay; false when attempts are exhausted or the stream closed.
    async fn wait_retry(&mut self) -> bool {
        let d = match self.backoff.next_delay() {
            Some(d) => d,
            None => return false,
        };
        let mut rx = self.closed_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.is_closed(),
            _ = rx.changed() => false,
        }
    }

    async fn next(&mut self) -> Result<Option<ChangeEntry>> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                self.cursor = Some(e.position());
                return Ok(Some(e));
            }
            let timeout = self.opts.batch_timeout;
            match self.fetch(timeout).await? {
                None => return Ok(None),
                Some(b) => self.buffer = b.into(),
            }
        }
    }

    async fn next_batch(&mut self) -> Result<Option<Vec<ChangeEntry>>> {
        let batch: Vec<ChangeEntry> = if !self.buffer.is_empty() {
            self.buffer.drain(..).collect()
        } else {
            let timeout = self.opts.batch_timeout;
            match self.fetch(timeout).await? {
                None => return Ok(None),
                Some(b) => b,
            }
        };
        if let Some(last) = batch.last() {
            self.cursor = Some(last.position());
        }
        Ok(Some(batch))
    }

    /// One batch (repeated after lost connections); None once closed.
    async fn fetch(&mut self, timeout: Duration) -> Result<Option<Vec<ChangeEntry>>> {
        let mut size = self.opts.batch_size;
        let mut timeout = timeout;
        loop {
            if self.is_closed() {
                return Ok(None);
            }
            let mut rx = self.closed_rx.clone();
            let r = tokio::select! {
                r = self.round_trip(size, timeout) => Some(r),
                _ = rx.changed() => None,
            };
            match r {
                None => {
                    // closed in the middle of a long poll: the open
                    // transaction dies with the connection
                    self.drop_conn(true);
                    return Ok(None);
                }
                Some(Ok(Fetched::Rows(v))) => {
                    self.backoff.reset();
                    return Ok(Some(v));
                }
                Some(Ok(Fetched::Again)) => {
                    size = size.saturating_mul(2);
                    timeout = Duration::from_millis(0);
                }
                Some(Err(e)) => {
                    if !is_retryable(&e) {
                        return Err(e);
                    }
                    // the transaction may be open: a new connection either way
                    self.drop_conn(true);
                    if !self.wait_retry().await {
                        if self.is_closed() {
                            return Ok(None);
                        }
                        return Err(e);
                    }
                }
            }
        }
    }

    /// BEGIN; [cdc.checkpoint(cursor)]; cdc.stream(...); COMMIT or ROLLBACK:
    /// sent at once (pipelined), answered in one exchange.
    async fn round_trip(&mut self, size: i32, timeout: Duration) -> Result<Fetched> {
        self.prepare().await?;
        let c = self.conn.as_ref().expect("connected").client.clone();
        let (stream_stmt, cp_stmt) = self.stmts.clone().expect("prepared");
        let o = &self.opts;
        let (mut from_lsn, mut from_ts, mut from_beginning) = (None, None, false);
        if self.replay {
            match self.cursor {
                Some((l, _)) => from_lsn = Some(l),
                None => {
                    from_lsn = o.from_lsn;
                    from_ts = o.from_timestamp;
                    from_beginning = o.from_beginning;
                }
            }
        }
        let move_cp = match (self.cursor, self.committed) {
            (Some(cur), Some(done)) => cur > done,
            (Some(_), None) => true,
            _ => false,
        };
        let keep = move_cp && o.auto_checkpoint;
        let cursor = self.cursor.unwrap_or_default();
        let filters = !self.temporary;
        let (entities, exclude) = if filters { (o.entities.clone(), o.exclude_entities.clone()) } else { (None, None) };
        let ops = if filters { op_names(&o.operations) } else { None };
        let timeout_ms = timeout.as_millis().min(i64::MAX as u128) as i64;
        let consumer = self.consumer.as_str();

        self.in_flight = true;
        let begin = c.batch_execute("BEGIN");
        let checkpoint = async {
            if move_cp {
                c.execute(&cp_stmt, &[&consumer, &cursor.0, &cursor.1]).await.map(|_| ())
            } else {
                Ok(())
            }
        };
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] =
            [&consumer, &from_lsn, &from_ts, &from_beginning, &entities, &exclude, &ops, &size, &timeout_ms];
        let read = c.query(&stream_stmt, &params);
        let end = c.batch_execute(if keep { "COMMIT" } else { "ROLLBACK" });
        let (r_begin, r_cp, r_read, r_end) = futures::join!(begin, checkpoint, read, end);
        self.in_flight = false;
        let asked = if self.replay && self.cursor.is_none() { o.from_lsn } else { from_lsn };
        r_begin.map_err(|e| classify(e, None))?;
        r_cp.map_err(|e| classify(e, None))?;
        let rows = r_read.map_err(|e| classify(e, asked))?;
        r_end.map_err(|e| classify(e, None))?;
        if keep {
            self.committed = self.cursor;
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let e = ChangeEntry::from_row(row)?;
            if self.cursor.map_or(true, |cur| e.position() > cur) {
                out.push(e);
            }
        }
        if out.is_empty() && !rows.is_empty() && rows.len() >= size as usize {
            return Ok(Fetched::Again);
        }
        Ok(Fetched::Rows(out))
    }

    async fn checkpoint(&mut self, lsn: Lsn, seq: i32) -> Result<()> {
        let mut tries = 0;
        loop {
            self.prepare().await?;
            let c = self.conn.as_ref().expect("connected").client.clone();
            let (_, cp) = self.stmts.clone().expect("prepared");
            match c.execute(&cp, &[&self.consumer.as_str(), &lsn, &seq]).await.map_err(|e| classify(e, None)) {
                Ok(_) => {
                    if self.committed.map_or(true, |d| (lsn, seq) > d) {
                        self.committed = Some((lsn, seq));
                    }
                    return Ok(());
                }
                Err(e) if is_connection_error(&e) && tries < 2 => {
                    tries += 1;
                    self.drop_conn(true);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.closed = true;
        self.drop_conn(false);
        self.buffer.clear();
        if self.temporary && self.created {
            self.created = false;
            self.client.drop_consumer(&self.consumer).await?;
        }
        Ok(())
    }
}
