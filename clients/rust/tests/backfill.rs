// Backfills through the client (docs/backfill.md): Start::Snapshot for a
// consumer, a group and a temporary stream; backfill() on an existing
// consumer; cancel_backfill(); backfills() and its states.  The property
// that matters: the stream applied in cursor order to an empty map is the
// table, whatever commits meanwhile; and a backfill's rows reach only who
// asked.  The tables are small: the examples' tests, run after these on
// the same server, replay the whole log.
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cdc_ext::serde_json::Value;
use cdc_ext::{BackfillKind, BackfillState, ChangeEntry, Client, ConsumerOptions, Error, Operation, ReadOptions, Start};
use common::*;
use tokio_postgres::NoTls;

async fn client() -> Client {
    ensure_extension().await;
    Client::connect(&conninfo()).await.unwrap()
}

fn on(table: &str, start: Start) -> ConsumerOptions {
    ConsumerOptions { entities: Some(vec![table.to_string()]), start, ..Default::default() }
}

/// The newest backfill of a consumer or group, as backfills() lists it.
async fn id_of(client: &Client, consumer: &str) -> i64 {
    let ids: Vec<i64> = client.backfills().await.unwrap().iter().filter(|b| b.consumer == consumer).map(|b| b.id).collect();
    *ids.iter().max().unwrap_or_else(|| panic!("no backfill for {}", consumer))
}

fn key(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer key: {}", v))
}

/// Apply entries of a table keyed by `id` (an integer) to a map, in order:
/// a read like an insert.
fn apply(map: &mut BTreeMap<i64, Value>, entries: &[ChangeEntry]) {
    for e in entries {
        match e.operation {
            Operation::Read | Operation::Insert => {
                map.insert(key(&e.entity_id), e.new_data.clone().unwrap());
            }
            Operation::Update => {
                if let Some(old) = &e.old_data {
                    map.remove(&key(&old["id"])); // the key changed
                }
                map.insert(key(&e.entity_id), e.new_data.clone().unwrap());
            }
            Operation::Delete => {
                map.remove(&key(&e.entity_id));
            }
            Operation::Truncate => map.clear(),
            _ => {}
        }
    }
}

/// The table as the server has it: id -> to_jsonb(row).
async fn table_map(table: &str) -> BTreeMap<i64, Value> {
    sql(&format!("SELECT id::int8, to_jsonb(t)::text FROM {table} t"))
        .await
        .iter()
        .map(|r| (r.get::<_, i64>(0), cdc_ext::parse_json(r.get::<_, String>(1).as_bytes()).unwrap()))
        .collect()
}

fn assert_same_table(map: &BTreeMap<i64, Value>, table: &BTreeMap<i64, Value>) {
    assert_eq!(map.keys().collect::<Vec<_>>(), table.keys().collect::<Vec<_>>(), "the same keys as the table");
    for (k, v) in table {
        assert_eq!(&map[k], v, "row {}", k);
    }
}

#[tokio::test]
async fn snapshot_sends_every_row_as_read_then_the_changes() {
    let client = client().await;
    let t = uniq("bf_items");
    sql(&format!(
        "CREATE TABLE {t} (id int PRIMARY KEY, v text, n int); \
         INSERT INTO {t} SELECT g, repeat('x', g % 50), g FROM generate_series(1, 5000) g; ANALYZE {t}"
    ))
    .await;
    wait_for_log().await;
    let bystander = uniq("bystander");
    client.create_consumer(&bystander, &on(&t, Start::Now)).await.unwrap();
    let c = uniq("snap");
    client.create_consumer(&c, &on(&t, Start::Snapshot)).await.unwrap();
    let id = id_of(&client, &c).await;

    // writes while the log writer reads the table a chunk at a time:
    // updates, deletes, inserts, key changes, several per transaction
    let stop = Arc::new(AtomicBool::new(false));
    let stop_w = stop.clone();
    let table = t.clone();
    let writer = tokio::spawn(async move {
        let (w, conn) = tokio_postgres::connect(&conninfo(), NoTls).await.unwrap();
        tokio::spawn(conn);
        let (mut txns, mut next, mut rnd) = (0u32, 100_000i32, 12345u32);
        while !stop_w.load(Ordering::SeqCst) && txns < 400 {
            rnd = rnd.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let k = (rnd >> 8) as i32 % 5000 + 1;
            let mut s = format!(
                "BEGIN; UPDATE {table} SET n = n + 1, v = 'u{txns}' WHERE id = {k}; \
                 DELETE FROM {table} WHERE id = {}; INSERT INTO {table} VALUES ({next}, 'i{txns}', 0); ",
                (k * 7) % 5000 + 1
            );
            if txns % 5 == 0 {
                s += &format!("UPDATE {table} SET id = id + 1000000 WHERE id = {}; ", (k * 13) % 5000 + 1);
            }
            s += "COMMIT";
            w.batch_execute(&s).await.unwrap();
            next += 1;
            txns += 1;
        }
        txns
    });
    let rows = backfill_finished(&client, id, 120).await;
    stop.store(true, Ordering::SeqCst);
    let txns = writer.await.unwrap();
    assert_eq!(
        rows.iter().map(|b| (b.entity.as_str(), b.state, b.kind, b.consumer.as_str())).collect::<Vec<_>>(),
        vec![(format!("public.{t}").as_str(), BackfillState::Done, BackfillKind::Consumer, c.as_str())]
    );
    assert!(txns > 0, "changes committed during the backfill");
    let info = &rows[0];
    assert!(info.chunks >= 1 && info.started_at.is_some() && info.finished_at >= info.started_at, "{:?}", info);
    assert!(info.created_at <= info.started_at.unwrap());
    assert_eq!(info.rows_estimated, Some(5000), "reltuples after ANALYZE: {:?}", info);

    // a live insert after the backfill: it comes after every read
    sql(&format!("INSERT INTO {t} VALUES (999999, 'live', 1)")).await;
    let entries = drain(&client, &c, true).await;
    let reads: Vec<&ChangeEntry> = entries.iter().filter(|e| e.operation == Operation::Read).collect();
    assert!(!reads.is_empty());
    let last = entries.last().unwrap();
    assert_eq!((last.operation, key(&last.entity_id)), (Operation::Insert, 999999));
    let last_read = entries.iter().rposition(|e| e.operation == Operation::Read).unwrap();
    assert!(last_read < entries.len() - 1, "the live insert follows the reads");
    for e in &reads {
        assert_eq!(e.entity, format!("public.{t}"));
        assert!(e.old_data.is_none());
        assert_eq!(e.entity_id, e.new_data.as_ref().unwrap()["id"]);
        assert!(e.schema_version.is_some(), "a read carries its table's schema version");
    }
    assert_eq!(info.rows_done, reads.len() as i64, "rows_done counts the reads sent");
    assert!(reads.len() as i64 + info.rows_superseded >= 5000 - txns as i64, "every row present was read, sent or superseded");
    let mut copy = BTreeMap::new();
    apply(&mut copy, &entries);
    assert_same_table(&copy, &table_map(&t).await);

    // the consumer that did not ask: the same changes, no read
    let other = drain(&client, &bystander, true).await;
    assert_eq!(other.iter().filter(|e| e.operation == Operation::Read).count(), 0, "no read for a consumer that did not ask");
    assert!(other.len() >= txns as usize * 3, "it has the live changes: {} for {} transactions", other.len(), txns);
    client.drop_consumer(&c).await.unwrap();
    client.drop_consumer(&bystander).await.unwrap();
    sql(&format!("DROP TABLE {t}")).await;
}

#[tokio::test]
async fn backfill_of_an_existing_consumer_and_cancel() {
    let client = client().await;
    let (small, other, locked) = (uniq("bf_small"), uniq("bf_other"), uniq("bf_locked"));
    sql(&format!(
        "CREATE TABLE {small} (id int PRIMARY KEY, v text, big int8, price numeric); \
         INSERT INTO {small} SELECT g, 's' || g, 9007199254740990 + g, 123456789012345678901234567890.25 FROM generate_series(1, 40) g; \
         CREATE TABLE {other} (id int PRIMARY KEY, v text); INSERT INTO {other} SELECT g, 'o' || g FROM generate_series(1, 7) g; \
         CREATE TABLE {locked} (id int PRIMARY KEY); INSERT INTO {locked} SELECT generate_series(1, 10)"
    ))
    .await;
    let c = uniq("later");
    client
        .create_consumer(&c, &ConsumerOptions { entities: Some(vec![small.clone(), other.clone()]), ..Default::default() })
        .await
        .unwrap();
    assert!(drain(&client, &c, true).await.is_empty(), "nothing before the backfill: it started now");

    // entities narrow it to one table
    let id = client.backfill(&c, Some(&[small.as_str()])).await.unwrap();
    let rows = backfill_finished(&client, id, 90).await;
    assert_eq!(
        rows.iter().map(|b| (b.entity.clone(), b.state, b.rows_done)).collect::<Vec<_>>(),
        vec![(format!("public.{small}"), BackfillState::Done, 40)]
    );
    // every field of a read as the server's own text gives it
    wait_for_log().await;
    let server = sql(&format!(
        "SELECT lsn::text, commit_lsn::text, seq, xid, (extract(epoch FROM \"timestamp\") * 1000000)::int8, entity, \
         entity_id::text, operation::text, old_data IS NULL, new_data::text, schema_version::text FROM cdc.stream('{c}')"
    ))
    .await;
    let entries = drain(&client, &c, true).await;
    assert_eq!(entries.len(), 40);
    assert_eq!(server.len(), 40);
    for (e, r) in entries.iter().zip(&server) {
        assert_eq!(e.operation, Operation::Read);
        assert_eq!(e.operation.as_str(), r.get::<_, String>(7));
        assert_eq!(e.lsn.to_string(), r.get::<_, String>(0));
        assert_eq!(e.commit_lsn.to_string(), r.get::<_, String>(1));
        assert_eq!(e.seq, r.get::<_, i32>(2));
        assert_eq!(e.xid, r.get::<_, i64>(3));
        assert_eq!(e.timestamp, r.get::<_, i64>(4));
        assert_eq!(e.entity, r.get::<_, String>(5));
        assert_eq!(e.entity_id, cdc_ext::parse_json(r.get::<_, String>(6).as_bytes()).unwrap());
        assert!(r.get::<_, bool>(8) && e.old_data.is_none());
        assert_eq!(e.new_data.as_ref().unwrap(), &cdc_ext::parse_json(r.get::<_, String>(9).as_bytes()).unwrap());
        assert_eq!(e.schema_version.map(|v| v.to_string()), r.get::<_, Option<String>>(10));
        assert!(e.unchanged_toast.is_empty() && e.fallback.is_empty());
    }
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=40).collect::<Vec<_>>(), "1..n in key order");
    let nd = entries[0].new_data.as_ref().unwrap();
    assert_eq!(nd["big"].to_string(), "9007199254740991", "lossless as any change");
    assert_eq!(nd["price"].to_string(), "123456789012345678901234567890.25");
    let mut copy = BTreeMap::new();
    apply(&mut copy, &entries);
    assert_same_table(&copy, &table_map(&small).await);

    // all its tables, a second time (after a gap, say): read again, after what it has
    let id2 = client.backfill(&c, None).await.unwrap();
    assert!(id2 > id);
    let mut rows2: Vec<(String, BackfillState, i64)> =
        backfill_finished(&client, id2, 90).await.into_iter().map(|b| (b.entity, b.state, b.rows_done)).collect();
    rows2.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![(format!("public.{other}"), BackfillState::Done, 7), (format!("public.{small}"), BackfillState::Done, 40)];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(rows2, want);
    let entries = drain(&client, &c, true).await;
    assert_eq!(entries.len(), 47);
    assert!(entries.iter().all(|e| e.operation == Operation::Read));
    let mut copy = BTreeMap::new();
    apply(&mut copy, &entries.into_iter().filter(|e| e.entity == format!("public.{other}")).collect::<Vec<_>>());
    assert_same_table(&copy, &table_map(&other).await);

    // the server's errors, typed with their SQLSTATE
    let e = client.backfill("no-such-consumer", None).await.unwrap_err();
    assert_eq!(e.code(), Some("42704"), "{}", e);
    let e = client.backfill(&c, Some(&[locked.as_str()])).await.unwrap_err();
    assert_eq!(e.code(), Some("22023"), "a table outside its filters: {}", e);
    let e = client.backfill(&c, Some(&[])).await.unwrap_err();
    assert_eq!(e.code(), Some("22023"), "an empty list is not 'every table': {}", e);

    // cancel: the table is locked, and a backfill never waits for a lock: it stays pending
    let c2 = uniq("cancel");
    client.create_consumer(&c2, &on(&locked, Start::Now)).await.unwrap();
    let (locker, conn) = tokio_postgres::connect(&conninfo(), NoTls).await.unwrap();
    tokio::spawn(conn);
    locker.batch_execute(&format!("BEGIN; LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE")).await.unwrap();
    let id3 = client.backfill(&c2, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let states: Vec<BackfillState> = client.backfills().await.unwrap().iter().filter(|b| b.id == id3).map(|b| b.state).collect();
    assert_eq!(states, vec![BackfillState::Pending]);
    assert_eq!(client.cancel_backfill(id3).await.unwrap(), 1, "one table had not finished");
    assert_eq!(client.cancel_backfill(id3).await.unwrap(), 0, "a second cancel stops nothing");
    locker.batch_execute("COMMIT").await.unwrap();
    drop(locker);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let rows3 = backfill_finished(&client, id3, 30).await;
    assert_eq!(rows3.iter().map(|b| (b.state, b.rows_done)).collect::<Vec<_>>(), vec![(BackfillState::Cancelled, 0)]);
    assert!(drain(&client, &c2, true).await.is_empty(), "no read after the cancel");
    let e = client.cancel_backfill(123_456_789).await.unwrap_err();
    assert_eq!(e.code(), Some("42704"), "{}", e);
    client.drop_consumer(&c).await.unwrap();
    client.drop_consumer(&c2).await.unwrap();
    sql(&format!("DROP TABLE {small}, {other}, {locked}")).await;
}

#[tokio::test]
async fn snapshot_for_a_group_and_a_temporary_stream_states_and_refusals() {
    let client = client().await;
    let (small, other, nokey) = (uniq("bf_gsmall"), uniq("bf_gother"), uniq("bf_nokey"));
    sql(&format!(
        "CREATE TABLE {small} (id int PRIMARY KEY, v text); INSERT INTO {small} SELECT g, 's' || g FROM generate_series(1, 40) g; \
         CREATE TABLE {other} (id int PRIMARY KEY, v text); INSERT INTO {other} SELECT g, 'o' || g FROM generate_series(1, 7) g; \
         CREATE TABLE {nokey} (a int); INSERT INTO {nokey} VALUES (1), (2)"
    ))
    .await;

    // a group: reads whatever its operations filter says (only delete here)
    let g = uniq("grp");
    let opts = ConsumerOptions { operations: Some(vec![Operation::Delete]), ..on(&small, Start::Snapshot) };
    client.create_group(&g, &opts, 10).await.unwrap();
    let rows = backfill_finished(&client, id_of(&client, &g).await, 90).await;
    assert_eq!(rows.iter().map(|b| (b.kind, b.state, b.rows_done)).collect::<Vec<_>>(), vec![(BackfillKind::Group, BackfillState::Done, 40)]);
    wait_for_log().await;
    let batch = client.group(&g, "m").read(ReadOptions { batch_size: 100, ..Default::default() }).await.unwrap();
    assert_eq!(batch.len(), 40);
    assert!(batch.iter().all(|e| e.operation == Operation::Read && e.delivery_count == 1 && e.schema_version.is_some()));
    let mut ids: Vec<i64> = batch.iter().map(|e| key(&e.entity_id)).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=40).collect::<Vec<_>>());

    // a temporary consumer of stream_changes
    let mut s = client.stream_changes().entities(vec![other.clone()]).snapshot().batch_timeout(Duration::from_millis(500)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < 7 {
        let e = tokio::time::timeout(Duration::from_secs(60), s.next()).await.expect("the reads arrive").unwrap().unwrap();
        got.push(e);
    }
    let tmp = s.consumer().to_string();
    s.close().await.unwrap();
    assert!(got.iter().all(|e| e.operation == Operation::Read), "{:?}", got);
    assert_eq!(got.iter().map(|e| key(&e.entity_id)).collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
    assert!(client.backfills().await.unwrap().iter().all(|b| b.consumer != tmp), "dropped with its consumer");
    // a named consumer's start was set when it was created
    let e = client.stream_changes().consumer(&g).snapshot().await.err().expect("snapshot() with a consumer is refused");
    assert!(matches!(e, Error::Invalid(_)), "{}", e);

    // no key: skipped, and said so
    let k = uniq("nokey");
    client.create_consumer(&k, &on(&nokey, Start::Snapshot)).await.unwrap();
    let nk = backfill_finished(&client, id_of(&client, &k).await, 60).await;
    assert_eq!(nk.len(), 1);
    assert_eq!(nk[0].state, BackfillState::Skipped);
    assert!(nk[0].error.as_deref().unwrap_or("").contains("no primary key"), "{:?}", nk[0]);
    assert!(drain(&client, &k, true).await.is_empty());

    // 'read' is not a filter's operation
    let e = client
        .create_consumer(&uniq("bad"), &ConsumerOptions { operations: Some(vec![Operation::Read]), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("22023"), "{}", e);
    client.drop_group(&g).await.unwrap();
    client.drop_consumer(&k).await.unwrap();
    sql(&format!("DROP TABLE {small}, {other}, {nokey}")).await;
}
