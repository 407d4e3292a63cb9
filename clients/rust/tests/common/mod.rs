// Shared by the integration tests: the server from the environment (set by
// scripts/test.sh, or by hand: PGHOST, PGPORT, PGUSER, PGDATABASE and
// CDC_TEST_PGDATA for the tests that restart it), plain SQL on a fresh
// connection, and the change log's wait.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::{NoTls, Row};

pub fn conninfo() -> String {
    cdc_ext::conninfo_from_env()
}

/// Run SQL (one or more statements) on a connection of its own.
pub async fn sql(text: &str) -> Vec<Row> {
    try_sql(text).await.unwrap_or_else(|e| panic!("{}: {}", text, e))
}

pub async fn try_sql(text: &str) -> Result<Vec<Row>, tokio_postgres::Error> {
    let (c, conn) = tokio_postgres::connect(&conninfo(), NoTls).await?;
    let task = tokio::spawn(conn);
    let r = if text.trim_end().trim_end_matches(';').contains(';') {
        c.batch_execute(text).await.map(|_| Vec::new())
    } else {
        c.query(text, &[]).await
    };
    drop(c);
    let _ = task.await;
    r
}

/// CREATE EXTENSION if it is not there; the tests of one binary run at
/// once, and two concurrent CREATE EXTENSION IF NOT EXISTS on a fresh
/// server race (one fails on a unique index): the loser looks again.
pub async fn ensure_extension() {
    let mut tries = 0;
    while let Err(e) = try_sql("CREATE EXTENSION IF NOT EXISTS cdc_ext").await {
        tries += 1;
        assert!(tries < 5, "CREATE EXTENSION cdc_ext: {}", e);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for_log().await;
}

/// Wait until the change log holds everything committed so far.
pub async fn wait_for_log() {
    sql("SELECT cdc.wait_for_log(timeout => '30 s')").await;
}

pub fn uniq(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{}_{}_{}", prefix, std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// pg_ctl as the server's owner (postgres when the tests run as root).
pub fn pg_ctl(args: &[&str]) -> Output {
    let data = std::env::var("CDC_TEST_PGDATA").expect("CDC_TEST_PGDATA is not set: cannot control the server");
    let mut full: Vec<String> = vec!["-D".into(), data.clone()];
    full.extend(args.iter().map(|s| s.to_string()));
    let is_root = unsafe_getuid() == 0;
    let mut cmd = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "pg_ctl"]);
        c
    } else {
        Command::new("pg_ctl")
    };
    cmd.args(&full).stdin(Stdio::null()).output().expect("pg_ctl runs")
}

fn unsafe_getuid() -> u32 {
    // no libc crate: the owner of /proc/self is who we are
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1)
}

/// Restart the server (fast) while clients keep running.
pub async fn restart_server() {
    let data = std::env::var("CDC_TEST_PGDATA").unwrap();
    let log = format!("{}/server.log", data);
    let out = tokio::task::spawn_blocking(move || pg_ctl(&["-m", "fast", "-w", "-t", "60", "restart", "-l", &log]))
        .await
        .unwrap();
    assert!(out.status.success(), "pg_ctl restart: {}", String::from_utf8_lossy(&out.stderr));
}

/// Poll `cond` (SQL returning one boolean) until true or `secs` pass.
pub async fn wait_until(cond: &str, secs: u64) {
    let t = Instant::now();
    loop {
        if let Ok(rows) = try_sql(cond).await {
            if rows.get(0).map_or(false, |r| r.get::<_, Option<bool>>(0) == Some(true)) {
                return;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out waiting for: {}", cond);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Where cargo put the examples (target/<profile>/examples), from this test's path.
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap(); // .../deps -> .../<profile>
    profile_dir.join("examples").join(name)
}

/// Everything a consumer has now (the log caught up first), in cursor
/// order, through a ChangeStream; with `checkpoint`, the consumer's
/// checkpoint moves past it (the next drain starts after it), else the
/// stream reads without consuming.
pub async fn drain(client: &cdc_ext::Client, consumer: &str, checkpoint: bool) -> Vec<cdc_ext::ChangeEntry> {
    wait_for_log().await;
    let mut s = client
        .stream_changes()
        .consumer(consumer)
        .batch_size(5000)
        .batch_timeout(Duration::from_millis(0))
        .auto_checkpoint(checkpoint)
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let b = s.next_batch().await.unwrap().expect("stream open");
        if b.is_empty() {
            break;
        }
        out.extend(b);
    }
    s.close().await.unwrap();
    out
}

/// Poll `Client::backfills()` until every table of backfill `id` has ended
/// (failing after `secs`); its rows.
pub async fn backfill_finished(client: &cdc_ext::Client, id: i64, secs: u64) -> Vec<cdc_ext::BackfillInfo> {
    let t = Instant::now();
    loop {
        let rows: Vec<cdc_ext::BackfillInfo> = client.backfills().await.unwrap().into_iter().filter(|b| b.id == id).collect();
        if !rows.is_empty() && rows.iter().all(|b| b.state.is_finished()) {
            return rows;
        }
        assert!(t.elapsed() < Duration::from_secs(secs), "backfill {} still running after {} s: {:?}", id, secs, rows);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
