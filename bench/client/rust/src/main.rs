//! Rust client benchmark (run by hand: bash bench/client/run_rust.sh).  The
//! same changes are read three ways and timed end to end:
//!   pg_recvlogical   the cdc_ext plugin over the replication protocol, to /dev/null
//!   next_batch()     the client over the SQL API (cdc.stream from the change
//!                    log, batch 1000, manual checkpoints: BEGIN; cdc.stream;
//!                    ROLLBACK per batch, pipelined), every row decoded into a
//!                    ChangeEntry with lossless jsonb
//!   raw round trips  the same statements through tokio-postgres with the rows
//!                    left undecoded: what the server and the protocol cost
//! and the client's CPU per change (user + system time of this process).
//! Environment: PGHOST/PGPORT/PGUSER/PGDATABASE, BENCH_CHANGES (200000),
//! BENCH_TXN_ROWS (100), BENCH_RUNS (3).

use std::process::Command;
use std::time::{Duration, Instant};

use cdc_ext::{Client, Lsn};
use tokio_postgres::NoTls;

fn env_num(k: &str, d: u64) -> u64 {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d)
}

/// user + system CPU time of this process (from /proc/self/stat, in clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    s[s.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = env_num("BENCH_CHANGES", 200_000);
    let txn = env_num("BENCH_TXN_ROWS", 100);
    let runs = env_num("BENCH_RUNS", 3) as usize;
    let conninfo = cdc_ext::conninfo_from_env();
    let (db, conn) = tokio_postgres::connect(&conninfo, NoTls).await?;
    tokio::spawn(conn);
    let host = std::env::var("PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    let dbname = std::env::var("PGDATABASE").unwrap_or_else(|_| "postgres".into());

    db.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS cdc_ext; DROP TABLE IF EXISTS bench_client_rs; \
         CREATE TABLE bench_client_rs (id bigint PRIMARY KEY, name text, price numeric, qty int, at timestamptz, tags text[])",
    )
    .await?;
    let slots: Vec<String> = (0..runs).map(|i| format!("bench_rs_recv_{}", i)).collect();
    for s in &slots {
        db.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", &[s]).await?;
        db.execute("SELECT pg_create_logical_replication_slot($1, 'cdc_ext')", &[s]).await?;
    }
    db.execute("SELECT cdc.drop_consumer(name) FROM cdc.consumers WHERE name = 'bench-rust'", &[]).await?;
    db.execute("SELECT cdc.create_consumer('bench-rust', entities => '{bench_client_rs}')", &[]).await?;
    let start: String = db.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
    let mut i = 0;
    while i < n {
        let hi = (i + txn).min(n);
        db.execute(
            "INSERT INTO bench_client_rs SELECT g, 'product ' || g, g * 1.25, g % 100, \
             '2026-01-01'::timestamptz + g * interval '1 second', ARRAY['a', 'b'] FROM generate_series($1::int8, $2::int8) g",
            &[&((i + 1) as i64), &(hi as i64)],
        )
        .await?;
        i = hi;
    }
    let end: String = db.query_one("SELECT pg_current_wal_lsn()::text", &[]).await?.get(0);
    db.execute("SELECT cdc.wait_for_log(timeout => '300 s')", &[]).await?;
    println!("workload: {} inserts in transactions of {}, WAL {} .. {}", n, txn, start, end);

    let client = Client::connect(&conninfo).await?;
    let (mut recv, mut batch, mut raw, mut cpu) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for slot in slots.iter().take(runs) {
        // every reader starts at the same position: pg_recvlogical on a fresh
        // slot per run, the client with a consumer it never checkpoints
        let t = Instant::now();
        let st = Command::new("pg_recvlogical")
            .args(["-h", &host, "-p", &port, "-U", &user, "-d", &dbname, "--slot", slot, "--start"])
            .args(["-o", "transactions=true", "-o", "entities=bench_client_rs", "--endpos", &end])
            .args(["--no-loop", "-f", "/dev/null", "-s", "3600", "-F", "0"])
            .status()?;
        assert!(st.success(), "pg_recvlogical failed");
        recv.push(t.elapsed().as_secs_f64());

        let t = Instant::now();
        let c0 = cpu_time();
        let mut s = client.stream_changes().consumer("bench-rust").batch_size(1000).batch_timeout(Duration::from_millis(0)).auto_checkpoint(false).await?;
        let mut got = 0u64;
        let mut last: Option<Lsn> = None;
        while let Some(b) = s.next_batch().await? {
            if b.is_empty() {
                break;
            }
            got += b.len() as u64;
            last = b.last().map(|c| c.commit_lsn);
        }
        s.close().await?;
        batch.push(t.elapsed().as_secs_f64());
        cpu.push((cpu_time() - c0).as_secs_f64() * 1e6 / n as f64);
        assert_eq!(got, n, "next_batch() read {} of {} (last {:?})", got, n, last);

        // the same round trips, rows left as they came (no ChangeEntry)
        let (rc, rconn) = tokio_postgres::connect(&conninfo, NoTls).await?;
        tokio::spawn(rconn);
        let stream = rc
            .prepare("SELECT e.lsn, e.commit_lsn, e.seq, e.xid, e.\"timestamp\", e.entity, e.entity_id, e.operation::text, e.old_data, e.new_data, e.unchanged_toast, e.fallback FROM cdc.stream($1::text, batch_size => 1000) e")
            .await?;
        let cp = rc.prepare("SELECT cdc.checkpoint($1::text, $2::pg_lsn, $3::int4)").await?;
        let t = Instant::now();
        let mut cur: Option<(String, i32)> = None;
        let mut got = 0u64;
        loop {
            rc.batch_execute("BEGIN").await?;
            if let Some((l, q)) = &cur {
                rc.execute("SELECT cdc.checkpoint($1::text, $2::text::pg_lsn, $3::int4)", &[&"bench-rust", l, q]).await?;
            }
            let rows = rc.query(&stream, &[&"bench-rust"]).await?;
            rc.batch_execute("ROLLBACK").await?;
            if rows.is_empty() {
                break;
            }
            got += rows.len() as u64;
            let lastrow = rows.last().unwrap();
            let l: Lsn = lastrow.get(1);
            cur = Some((l.to_string(), lastrow.get(2)));
        }
        let _ = cp;
        raw.push(t.elapsed().as_secs_f64());
        assert_eq!(got, n, "raw read {} of {}", got, n);
    }

    let rate = |s: f64| (n as f64 / s).round();
    let (rr, rb, rw) = (median(&recv), median(&batch), median(&raw));
    println!("\nmedian of {} runs, {} changes", runs, n);
    println!("| reader | seconds | changes/s | vs pg_recvlogical | client CPU per change |");
    println!("|---|---|---|---|---|");
    println!("| pg_recvlogical (cdc_ext, to /dev/null) | {:.3} | {} | 1.00 | - |", rr, rate(rr));
    println!("| Rust client next_batch() (batch 1000) | {:.3} | {} | {:.2} | {:.2} µs |", rb, rate(rb), rate(rb) / rate(rr), median(&cpu));
    println!("| same SQL round trips, rows not decoded (tokio-postgres) | {:.3} | {} | {:.2} | - |", rw, rate(rw), rate(rw) / rate(rr));
    let fmt = |v: &Vec<f64>| v.iter().map(|x| format!("{:.3}", x)).collect::<Vec<_>>().join(",");
    println!("\nall runs: recvlogical {}, next_batch {}, raw {}", fmt(&recv), fmt(&batch), fmt(&raw));

    for s in &slots {
        db.execute("SELECT pg_drop_replication_slot($1)", &[s]).await?;
    }
    db.execute("SELECT cdc.drop_consumer('bench-rust')", &[]).await?;
    db.execute("DROP TABLE bench_client_rs", &[]).await?;
    Ok(())
}
