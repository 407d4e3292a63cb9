// The examples (examples/*.rs, the product document's Rust examples) run
// against the server as separate processes, their output checked: basic
// streaming, start positions, filters, checkpointing, batch processing,
// cache invalidation, audit log (exactly-once through SIGKILLs), data
// replication, reconnection, handling gaps.  One at a time: they share the
// tables of examples/setup.sql and their consumers' names.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

struct Example {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn spawn(name: &str, args: &[&str], env: &[(&str, &str)]) -> Example {
    let mut cmd = Command::new(example_path(name));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run example {}: {}", name, e));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
    let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
    for pipe in [out, err] {
        let l = lines.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().flatten() {
                l.lock().unwrap().push(line);
            }
        }));
    }
    Example { child, lines, readers }
}

impl Example {
    fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Wait for a line containing `s`.
    async fn wait_line(&self, s: &str, secs: u64) {
        let secs = secs.max(90);
        let t = Instant::now();
        while !self.output().iter().any(|l| l.contains(s)) {
            assert!(t.elapsed() < Duration::from_secs(secs), "no line with {:?} after {} s; output:\n{}", s, secs, self.output().join("\n"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for the process to end; its exit code and output.
    async fn finish(mut self) -> (Option<i32>, Vec<String>) {
        let t = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        (status.code(), self.output())
    }

    /// Ask the example to stop (SIGTERM: it finishes what it holds and exits 0).
    fn stop(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Stop, then wait for the end.
    async fn stop_and_finish(self) -> (Option<i32>, Vec<String>) {
        self.stop();
        self.finish().await
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

async fn setup() -> std::sync::MutexGuard<'static, ()> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ensure_extension().await;
    sql("DROP TABLE IF EXISTS products, users, orders, sessions, audit_log, products_replica").await;
    let setup = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/setup.sql")).unwrap();
    sql(&setup).await;
    for c in ["batch", "audit", "cache", "checkpointing", "replica", "reconnecting", "gaps"] {
        sql(&format!("SELECT cdc.drop_consumer(name) FROM cdc.consumers WHERE name = '{c}'")).await;
    }
    guard
}

fn ok(code: Option<i32>, out: &[String]) {
    assert_eq!(code, Some(0), "example failed:\n{}", out.join("\n"));
}

async fn lsn_now() -> String {
    sql("SELECT pg_current_wal_lsn()::text").await[0].get(0)
}

#[tokio::test]
async fn basic_streaming() {
    let _g = setup().await;
    let ex = spawn("basic_streaming", &[], &[("EXAMPLE_SECONDS", "150")]);
    ex.wait_line("streaming as tmp-", 20).await;
    sql("INSERT INTO products VALUES (9007199254740993, 'big', 123456789012345678901234567890.25, 'x')").await;
    sql("UPDATE products SET price = 1 WHERE id = 9007199254740993").await;
    sql("DELETE FROM products").await;
    ex.wait_line("Deleted", 20).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    let body: Vec<&String> = out.iter().filter(|l| !l.starts_with("streaming")).collect();
    assert_eq!(
        body,
        vec!["New public.products: 9007199254740993", "Updated public.products: 9007199254740993", "Deleted public.products: 9007199254740993"],
        "{:?}",
        out
    );
}

#[tokio::test]
async fn start_positions() {
    let _g = setup().await;
    let start = lsn_now().await;
    sql("INSERT INTO users VALUES (1, 'ada@example.com')").await;
    sql("INSERT INTO users VALUES (2, 'grace@example.com')").await;
    wait_for_log().await;
    let t2: i64 = sql("SELECT (extract(epoch FROM max(\"timestamp\")) * 1000000)::int8 FROM cdc.log WHERE entity = 'public.users'").await[0].get(0);
    let env = [("ENTITIES", "users")];
    let (code, out) = spawn("start_positions", &["lsn", &start], &env).finish().await;
    ok(code, &out);
    assert_eq!(out.len(), 3, "{:?}", out);
    assert!(out[0].starts_with("insert public.users 1 at "), "{:?}", out);
    assert!(out[1].starts_with("insert public.users 2 at "), "{:?}", out);
    assert_eq!(out[2], "2 changes");
    let (code, out) = spawn("start_positions", &["timestamp", &t2.to_string()], &env).finish().await;
    ok(code, &out);
    assert_eq!(out.len(), 2, "only the change committed at or after the timestamp: {:?}", out);
    assert!(out[0].starts_with(&format!("insert public.users 2 at {} ", t2)), "{:?}", out);
    let (code, out) = spawn("start_positions", &["beginning"], &env).finish().await;
    ok(code, &out);
    let n = out.len() - 1;
    assert!(n >= 2 && out[n] == format!("{} changes", n), "{:?}", out);
    assert!(out[n - 2].starts_with("insert public.users 1 at ") && out[n - 1].starts_with("insert public.users 2 at "), "{:?}", out);
    let (code, out) = spawn("start_positions", &["lsn", "nonsense"], &env).finish().await;
    assert_ne!(code, Some(0), "{:?}", out);
}

#[tokio::test]
async fn filters() {
    let _g = setup().await;
    let start = lsn_now().await;
    sql("INSERT INTO users VALUES (1, 'a'); INSERT INTO orders VALUES (1, 1, 'new'); INSERT INTO sessions VALUES (1, 't')").await;
    sql("INSERT INTO products VALUES (1, 'p', 1, 'c')").await;
    sql("UPDATE products SET price = 2").await;
    sql("DELETE FROM products").await;
    sql("INSERT INTO audit_log (entity, commit_lsn, seq) VALUES ('x', '0/1', 1)").await;
    wait_for_log().await;
    let (code, out) = spawn("filters", &[&start], &[]).finish().await;
    ok(code, &out);
    assert_eq!(
        out,
        vec![
            "users and orders: insert public.users, insert public.orders",
            "all but sessions and logs: insert public.users, insert public.orders, insert public.products, update public.products, delete public.products",
            "inserts: insert public.users, insert public.orders, insert public.sessions, insert public.products, insert public.audit_log",
            "inserts and updates: insert public.users, insert public.orders, insert public.sessions, insert public.products, update public.products, insert public.audit_log",
        ]
    );
}

#[tokio::test]
async fn checkpointing() {
    let _g = setup().await;
    let ex = spawn("checkpointing", &[], &[("EXAMPLE_SECONDS", "150")]);
    ex.wait_line("resuming after", 20).await;
    for i in 1..=5 {
        sql(&format!("INSERT INTO products VALUES ({i}, 'p{i}', {i}, 'c')")).await;
    }
    ex.wait_line("processed insert 5 ", 20).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    let processed: Vec<&String> = out.iter().filter(|l| l.starts_with("processed")).collect();
    assert_eq!(processed.len(), 5, "{:?}", out);
    let cps: Vec<&String> = out.iter().filter(|l| l.starts_with("checkpoint")).collect();
    assert_eq!(cps.len(), 2, "every second change: {:?}", out);
    // the checkpoint after change 4 is where the next run resumes: change 5 comes again
    let cp4 = cps[1].trim_start_matches("checkpoint ").to_string();
    assert!(processed[3].ends_with(&cp4), "{:?}", out);
    sql("INSERT INTO products VALUES (6, 'p6', 6, 'c')").await;
    let ex = spawn("checkpointing", &[], &[("EXAMPLE_SECONDS", "150")]);
    ex.wait_line("processed insert 6 ", 20).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    assert_eq!(out[0], format!("resuming after {}", cp4));
    let again: Vec<&String> = out.iter().filter(|l| l.starts_with("processed")).collect();
    assert_eq!(again.len(), 2, "{:?}", out);
    assert!(again[0].starts_with("processed insert 5 ") && again[1].starts_with("processed insert 6 "), "{:?}", out);
}

#[tokio::test]
async fn batch_processing() {
    let _g = setup().await;
    let ex = spawn("batch_processing", &[], &[("EXAMPLE_SECONDS", "150")]);
    wait_until("SELECT count(*) = 1 FROM cdc.consumers WHERE name = 'batch'", 90).await;
    sql("INSERT INTO products VALUES (9007199254740993, 'big', 123456789012345678901234567890.25, 'x'), (2, 'two', 2, 'y')").await;
    sql("UPDATE products SET price = 3 WHERE id = 2").await;
    sql("INSERT INTO products VALUES (3, 'three', 3, 'z')").await;
    sql("DELETE FROM products WHERE id = 3").await;
    wait_for_log().await;
    // checkpointed at the last batch's end: nothing left for the consumer
    let at_end = "SELECT coalesce(bool_and(c.checkpoint_lsn = l.commit_lsn AND c.checkpoint_seq = l.seq), false) FROM cdc.consumers c, \
         (SELECT commit_lsn, seq FROM cdc.log WHERE entity = 'public.products' ORDER BY commit_lsn DESC, seq DESC LIMIT 1) l \
         WHERE c.name = 'batch'";
    wait_until(at_end, 90).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    let joined = out.join("\n");
    assert!(joined.contains("bulk indexed 2: 9007199254740993,2"), "{}", joined);
    assert!(joined.contains("bulk indexed 1: 3") || joined.contains("bulk indexed 3: 9007199254740993,2,3"), "{}", joined);
    assert!(sql(at_end).await[0].get::<_, bool>(0), "checkpoint at the last change");
}

#[tokio::test]
async fn cache_invalidation() {
    let _g = setup().await;
    let ex = spawn("cache_invalidation", &[], &[("EXAMPLE_SECONDS", "150")]);
    wait_until("SELECT count(*) = 1 FROM cdc.consumers WHERE name = 'cache'", 90).await;
    sql("INSERT INTO products VALUES (9007199254740995, 'lamp', 10.5, 'home'), (7, 'desk', 99, 'home')").await;
    sql("UPDATE products SET price = 11 WHERE id = 9007199254740995").await;
    sql("DELETE FROM products WHERE id = 7").await;
    sql("INSERT INTO users VALUES (42, 'grace@example.com')").await;
    sql("INSERT INTO orders VALUES (500, 42, 'new')").await;
    ex.wait_line("invalidated public.users:42", 20).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    assert_eq!(
        out,
        vec![
            "invalidated public.products:9007199254740995",
            "invalidated public.products:7",
            "invalidated public.products:9007199254740995",
            "invalidated public.products:7",
            "invalidated public.users:42",
        ]
    );
}

#[tokio::test]
async fn audit_log_exactly_once_through_kills() {
    let _g = setup().await;
    // a writer inserts products while the auditor is killed (SIGKILL) five times
    let writer = tokio::spawn(async {
        for i in 0..60 {
            sql(&format!("INSERT INTO products VALUES ({}, 'p', {}.5, 'c')", 9007199254740993i64 + i, i)).await;
            if i % 3 == 0 {
                sql(&format!("UPDATE products SET price = price + 1 WHERE id = {}", 9007199254740993i64 + i)).await;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    });
    for k in 0..5 {
        let mut ex = spawn("audit_log", &[], &[]);
        tokio::time::sleep(Duration::from_millis(600 + 150 * k)).await;
        ex.kill();
    }
    writer.await.unwrap();
    wait_for_log().await;
    let ex = spawn("audit_log", &[], &[("EXAMPLE_SECONDS", "150")]);
    wait_until(
        "SELECT (SELECT count(*) FROM audit_log WHERE entity = 'public.products') >= \
                (SELECT count(*) FROM cdc.log WHERE entity = 'public.products' AND operation <> 'schema' AND commit_lsn >= (SELECT oldest_lsn FROM cdc.status()))",
        90,
    )
    .await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    // every change the log retains exactly once (the primary key refuses a
    // second copy; rows before a trim's horizon are no longer read)
    let rows = sql(
        "SELECT (SELECT count(*) FROM audit_log WHERE entity = 'public.products'), \
                (SELECT count(*) FROM cdc.log WHERE entity = 'public.products' AND operation <> 'schema' AND commit_lsn >= (SELECT oldest_lsn FROM cdc.status())), \
                (SELECT count(*) FROM cdc.log l WHERE entity = 'public.products' AND operation <> 'schema' AND commit_lsn >= (SELECT oldest_lsn FROM cdc.status()) AND NOT EXISTS \
                   (SELECT 1 FROM audit_log a WHERE a.commit_lsn = l.commit_lsn AND a.seq = l.seq))",
    )
    .await;
    let (audited, logged, missing): (i64, i64, i64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
    assert_eq!(missing, 0);
    assert_eq!(audited, logged);
    assert!(audited >= 80, "{} audited", audited);
    // exact values: the bigint key and the numeric, as jsonb
    let exact: i64 = sql(
        "SELECT count(*) FROM audit_log WHERE entity_id = '9007199254741052'::jsonb AND operation = 'insert' \
         AND new_values->'price' = '59.5'::jsonb AND (new_values->>'id') = '9007199254741052'",
    )
    .await[0]
        .get(0);
    assert_eq!(exact, 1);
}

#[tokio::test]
async fn data_replication() {
    let _g = setup().await;
    sql("SELECT cdc.create_consumer('replica', entities => '{products}')").await;
    sql("INSERT INTO products VALUES (9007199254740993, 'big', 123456789012345678901234567890.25, 'x'), (2, 'two', 2, 'y')").await;
    sql("UPDATE products SET price = 3, name = 'TWO' WHERE id = 2").await;
    sql("INSERT INTO products VALUES (3, 'three', 3, 'z')").await;
    sql("DELETE FROM products WHERE id = 3").await;
    wait_for_log().await;
    let last = sql("SELECT format('up to (%s, %s)', commit_lsn, seq) FROM cdc.log WHERE entity = 'public.products' ORDER BY commit_lsn DESC, seq DESC LIMIT 1").await;
    let last: String = last[0].get(0);
    let ex = spawn("data_replication", &[], &[("EXAMPLE_SECONDS", "150")]);
    ex.wait_line(&last, 90).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    let diff: i64 = sql(
        "SELECT count(*) FROM ((TABLE products EXCEPT TABLE products_replica) UNION ALL (TABLE products_replica EXCEPT TABLE products)) d",
    )
    .await[0]
        .get(0);
    assert_eq!(diff, 0, "{:?}", out);
    let big: String = sql("SELECT price::text FROM products_replica WHERE id = 9007199254740993").await[0].get(0);
    assert_eq!(big, "123456789012345678901234567890.25");
    assert_eq!(sql("SELECT count(*) FROM products_replica").await[0].get::<_, i64>(0), 2);
}

#[tokio::test]
async fn reconnection() {
    let _g = setup().await;
    let ex = spawn("reconnection", &[], &[("EXAMPLE_SECONDS", "150"), ("BACKOFF_MS", "300")]);
    wait_until("SELECT count(*) = 1 FROM cdc.consumers WHERE name = 'reconnecting'", 90).await;
    sql("INSERT INTO products VALUES (1, 'one', 1, 'c')").await;
    ex.wait_line("processed insert 1 ", 20).await;
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%cdc.stream(%' AND pid <> pg_backend_pid()").await;
    ex.wait_line("stream error:", 20).await;
    sql("INSERT INTO products VALUES (2, 'two', 2, 'c')").await;
    ex.wait_line("processed insert 2 ", 20).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    assert!(out.iter().any(|l| l.starts_with("reconnecting in")), "{:?}", out);
    let twos = out.iter().filter(|l| l.starts_with("processed insert 2 ")).count();
    assert_eq!(twos, 1, "{:?}", out);
}

#[tokio::test]
async fn handling_gaps() {
    let _g = setup().await;
    let from: String = sql("SELECT cdc.create_consumer('gaps', entities => '{products}')::text").await[0].get(0);
    sql("INSERT INTO products VALUES (1, 'one', 1, 'c')").await;
    sql("INSERT INTO products VALUES (2, 'two', 2, 'c')").await;
    let upto: String = sql("SELECT cdc.wait_for_log()::text").await[0].get(0);
    sql(&format!("SELECT * FROM cdc.trim('{upto}')")).await;
    let ex = spawn("handling_gaps", &[], &[("EXAMPLE_SECONDS", "150")]);
    ex.wait_line("re-synced", 20).await;
    sql("INSERT INTO products VALUES (3, 'three', 3, 'c')").await;
    ex.wait_line("processed insert 3", 20).await;
    let (code, out) = ex.stop_and_finish().await;
    ok(code, &out);
    assert_eq!(
        out,
        vec![
            format!("gap detected: changes committed between {} and {} are lost", from, upto),
            "re-synced 2 products from a snapshot".to_string(),
            "processed insert 3".to_string(),
        ]
    );
}
