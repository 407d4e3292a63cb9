// ChangeStream against a real server: every field, lossless values, filters,
// batches, checkpoints (automatic and manual), replay, the futures::Stream
// impl, the closer, temporary consumers, lag and current_lsn.
mod common;

use std::time::{Duration, Instant};

use cdc_ext::{ChangeEntry, Client, ConsumerOptions, Lsn, Operation, Start};
use common::*;
use futures::StreamExt;

async fn client() -> Client {
    ensure_extension().await;
    Client::connect(&conninfo()).await.unwrap()
}

/// Read until `n` changes arrived (failing after 20 s).
async fn take(s: &mut cdc_ext::ChangeStream, n: usize) -> Vec<ChangeEntry> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        assert!(Instant::now() < deadline, "timed out after {} of {} changes", out.len(), n);
        match tokio::time::timeout(Duration::from_secs(20), s.next()).await {
            Ok(r) => out.push(r.unwrap().expect("stream open")),
            Err(_) => panic!("timed out after {} of {} changes", out.len(), n),
        }
    }
    out
}

#[tokio::test]
async fn every_field_exact() {
    let client = client().await;
    let t = uniq("fields");
    let c = uniq("c");
    sql(&format!("CREATE TABLE {t} (id bigint PRIMARY KEY, price numeric, f float8, n numeric, name text, at timestamptz)")).await;
    client.create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }).await.unwrap();
    sql(&format!(
        "INSERT INTO {t} VALUES (9007199254740993, 123456789012345678901234567890.25, 'Infinity', 'NaN', 'a\"b\\c', '2026-01-02 03:04:05.123456+00'); \
         UPDATE {t} SET price = -0.000000000000000000000000000001 WHERE id = 9007199254740993; \
         DELETE FROM {t}"
    ))
    .await;
    wait_for_log().await;
    let mut s = client.stream_changes().consumer(&c).await.unwrap();
    let got = take(&mut s, 3).await;
    // the server's own view of the same rows, as text
    let rows = sql(&format!(
        "SELECT lsn::text, commit_lsn::text, seq, xid, (extract(epoch FROM \"timestamp\") * 1000000)::int8, entity, operation::text \
         FROM cdc.stream('{c}')"
    ))
    .await;
    assert_eq!(rows.len(), 3);
    for (e, r) in got.iter().zip(&rows) {
        assert_eq!(e.lsn.to_string(), r.get::<_, String>(0));
        assert_eq!(e.commit_lsn.to_string(), r.get::<_, String>(1));
        assert_eq!(e.seq, r.get::<_, i32>(2));
        assert_eq!(e.xid, r.get::<_, i64>(3));
        assert_eq!(e.timestamp, r.get::<_, i64>(4), "microseconds exact");
        assert_eq!(e.entity, r.get::<_, String>(5));
        assert_eq!(e.operation.as_str(), r.get::<_, String>(6));
        assert_eq!(e.entity, format!("public.{}", t));
    }
    let ins = &got[0];
    assert_eq!(ins.operation, Operation::Insert);
    assert_eq!(ins.seq, 1);
    assert_eq!(ins.entity_id.as_u64(), Some(9007199254740993));
    let nd = ins.new_data.as_ref().unwrap();
    assert_eq!(nd["id"].to_string(), "9007199254740993");
    assert_eq!(nd["price"].to_string(), "123456789012345678901234567890.25");
    assert_eq!(nd["f"], serde_json::json!("Infinity"));
    assert_eq!(nd["n"], serde_json::json!("NaN"));
    assert_eq!(nd["name"], serde_json::json!("a\"b\\c"));
    assert_eq!(nd["at"], serde_json::json!("2026-01-02T03:04:05.123456+00:00"));
    assert!(ins.old_data.is_none());
    let upd = &got[1];
    assert_eq!(upd.operation, Operation::Update);
    let price_text: String = sql(&format!("SELECT (new_data->'price')::text FROM cdc.stream('{c}') WHERE operation = 'update'")).await[0].get(0);
    assert_eq!(upd.new_data.as_ref().unwrap()["price"].to_string(), price_text, "numeric exactly as the server writes it");
    let del = &got[2];
    assert_eq!(del.operation, Operation::Delete);
    assert!(del.new_data.is_none());
    assert_eq!(del.old_data.as_ref().unwrap()["id"].to_string(), "9007199254740993");
    assert!(got[0].position() < got[1].position() && got[1].position() < got[2].position());
    s.close().await.unwrap();
    client.drop_consumer(&c).await.unwrap();
}

#[tokio::test]
async fn filters_narrow_the_stream() {
    let client = client().await;
    let (a, b) = (uniq("fa"), uniq("fb"));
    sql(&format!("CREATE TABLE {a} (id int PRIMARY KEY, v int); CREATE TABLE {b} (id int PRIMARY KEY, v int)")).await;
    let start = client.current_lsn().await.unwrap();
    sql(&format!(
        "INSERT INTO {a} VALUES (1, 1); INSERT INTO {b} VALUES (1, 1); UPDATE {a} SET v = 2; UPDATE {b} SET v = 2; DELETE FROM {a}; DELETE FROM {b}"
    ))
    .await;
    wait_for_log().await;
    async fn read(b: cdc_ext::ChangeStreamBuilder, stop: &str) -> Vec<(String, Operation)> {
        let mut s = b.batch_timeout(Duration::from_millis(0)).await.unwrap();
        let mut out = Vec::new();
        for round in 0.. {
            assert!(round < 50, "the stream never ran dry: {:?}", out);
            let batch = s.next_batch().await.unwrap().unwrap();
            if batch.is_empty() {
                break;
            }
            out.extend(batch.into_iter().filter(|e| e.entity.contains(stop)).map(|e| (e.entity.rsplit('.').next().unwrap().to_string(), e.operation)));
        }
        s.close().await.unwrap();
        out
    }
    let pat = format!("{}*", &a[..a.rfind('_').unwrap()]); // both tables' common prefix? no: fa_ vs fb_
    let _ = pat;
    let only_a = read(client.stream_changes().from_lsn(start).entities(vec![a.as_str()]), "_").await;
    assert_eq!(only_a, vec![(a.clone(), Operation::Insert), (a.clone(), Operation::Update), (a.clone(), Operation::Delete)]);
    let both = [a.as_str(), b.as_str()];
    let not_a = read(client.stream_changes().from_lsn(start).entities(both).exclude_entities(vec![a.clone()]), "_").await;
    assert_eq!(not_a, vec![(b.clone(), Operation::Insert), (b.clone(), Operation::Update), (b.clone(), Operation::Delete)]);
    let ins = read(client.stream_changes().from_lsn(start).entities(both).operations(vec![Operation::Insert]), "_").await;
    assert_eq!(ins, vec![(a.clone(), Operation::Insert), (b.clone(), Operation::Insert)]);
    let iu = read(client.stream_changes().from_lsn(start).entities(both).operations(vec![Operation::Insert, Operation::Update]), "_").await;
    assert_eq!(iu.len(), 4);
    assert!(iu.iter().all(|(_, o)| *o != Operation::Delete));
    // glob: a pattern without a dot matches the table in any schema
    let glob = format!("{}*", &a[..4]);
    let g = read(client.stream_changes().from_lsn(start).entities(vec![glob]), "_").await;
    assert_eq!(g.len(), 3, "{:?}", g);
}

#[tokio::test]
async fn batches_and_large_transactions() {
    let client = client().await;
    let t = uniq("batch");
    let c = uniq("c");
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await;
    let start = client.create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }).await.unwrap();
    sql(&format!("INSERT INTO {t} SELECT generate_series(1, 25)")).await; // one transaction of 25
    sql(&format!("INSERT INTO {t} SELECT generate_series(26, 30)")).await;
    wait_for_log().await;
    for replay in [false, true] {
        let mut b = client.stream_changes().consumer(&c).batch_size(10).batch_timeout(Duration::from_millis(200)).auto_checkpoint(false);
        if replay {
            b = b.from_lsn(start);
        }
        let mut s = b.await.unwrap();
        let mut ids = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let batch = s.next_batch().await.unwrap().unwrap();
            if batch.is_empty() {
                break;
            }
            sizes.push(batch.len());
            assert!(sizes.len() <= 10, "30 changes in batches of 10 take 3 to 5 round trips, not {:?}", sizes);
            ids.extend(batch.iter().map(|e| e.entity_id.as_i64().unwrap()));
        }
        assert_eq!(ids, (1..=30).collect::<Vec<i64>>(), "replay {}", replay);
        assert!(sizes.iter().all(|&n| n <= 10), "batch_size is a cap: {:?}", sizes);
        assert_eq!(sizes.iter().sum::<usize>(), 30);
        // an empty batch, not a hang, when nothing comes within batch_timeout
        let t0 = Instant::now();
        assert_eq!(s.next_batch().await.unwrap().unwrap().len(), 0);
        assert!(t0.elapsed() < Duration::from_secs(5));
        s.close().await.unwrap();
    }
    // manual mode moved nothing
    let lag = client.lag(&c).await.unwrap();
    assert_eq!(lag.checkpoint_lsn, start);
    client.drop_consumer(&c).await.unwrap();
}

#[tokio::test]
async fn automatic_and_manual_checkpoints() {
    let client = client().await;
    let t = uniq("cp");
    let c = uniq("c");
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await;
    client.create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }).await.unwrap();
    for i in 1..=6 {
        sql(&format!("INSERT INTO {t} VALUES ({i})")).await;
    }
    wait_for_log().await;
    // automatic: fetching the second batch (changes 3, 4) checkpoints change 2;
    // 3 and 4, handed out but not followed by another fetch, are not done
    let mut s = client.stream_changes().consumer(&c).batch_size(2).await.unwrap();
    let got = take(&mut s, 4).await;
    drop(s);
    let lag = client.lag(&c).await.unwrap();
    assert_eq!((lag.checkpoint_lsn, lag.checkpoint_seq), got[1].position(), "checkpoint at the last change before the latest batch was asked for");
    let mut s = client.stream_changes().consumer(&c).await.unwrap();
    let again = take(&mut s, 4).await;
    assert_eq!(again.iter().map(|e| e.entity_id.as_i64().unwrap()).collect::<Vec<_>>(), vec![3, 4, 5, 6], "at-least-once: 3 and 4 again, nothing lost");
    s.close().await.unwrap();
    // manual: reading moves nothing; checkpoint() does
    let mut s = client.stream_changes().consumer(&c).auto_checkpoint(false).await.unwrap();
    let _ = s.next_batch().await.unwrap();
    let before = client.lag(&c).await.unwrap();
    assert_eq!(before.checkpoint_lsn, got[1].commit_lsn);
    s.checkpoint(&again[1]).await.unwrap();
    let after = client.lag(&c).await.unwrap();
    assert_eq!((after.checkpoint_lsn, after.checkpoint_seq), again[1].position());
    s.close().await.unwrap();
    // Client::checkpoint and lag fields
    client.checkpoint(&c, &again[3]).await.unwrap();
    let lag = client.lag(&c).await.unwrap();
    assert!(lag.changes.is_some()); // counts every log row after the checkpoint, other tables too
    assert!(lag.current_lsn >= lag.checkpoint_lsn);
    assert_eq!(lag.bytes, lag.current_lsn - lag.checkpoint_lsn);
    assert!(!lag.gap);
    client.drop_consumer(&c).await.unwrap();
}

#[tokio::test]
async fn replay_from_timestamp_and_beginning() {
    let client = client().await;
    let t = uniq("replay");
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await;
    sql(&format!("INSERT INTO {t} VALUES (1)")).await;
    wait_for_log().await;
    let first_ts: i64 = sql(&format!("SELECT (extract(epoch FROM \"timestamp\") * 1000000)::int8 FROM cdc.log WHERE entity = 'public.{t}' AND operation = 'insert'")).await[0].get(0);
    sql(&format!("INSERT INTO {t} VALUES (2)")).await;
    wait_for_log().await;
    let second_ts: i64 = sql(&format!("SELECT max((extract(epoch FROM \"timestamp\") * 1000000)::int8) FROM cdc.log WHERE entity = 'public.{t}'")).await[0].get(0);
    let ids = |v: Vec<ChangeEntry>| v.iter().map(|e| e.entity_id.as_i64().unwrap()).collect::<Vec<_>>();
    let mut s = client.stream_changes().entities(vec![t.clone()]).from_timestamp(second_ts).await.unwrap();
    assert_eq!(ids(take(&mut s, 1).await), vec![2]);
    assert_eq!(s.next_batch().await.unwrap().unwrap().len(), 0, "nothing before the timestamp, nothing twice");
    s.close().await.unwrap();
    let mut s = client.stream_changes().entities(vec![t.clone()]).from_timestamp(std::time::UNIX_EPOCH + Duration::from_micros(first_ts as u64)).await.unwrap();
    assert_eq!(ids(take(&mut s, 2).await), vec![1, 2]);
    s.close().await.unwrap();
    let mut s = client.stream_changes().entities(vec![t.clone()]).from_beginning().await.unwrap();
    assert_eq!(ids(take(&mut s, 2).await), vec![1, 2]);
    s.close().await.unwrap();
}

#[tokio::test]
async fn futures_stream_and_closer() {
    let client = client().await;
    let t = uniq("fs");
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await;
    let mut s = client.stream_changes().entities(vec![t.clone()]).batch_timeout(Duration::from_secs(30)).await.unwrap();
    let consumer = s.consumer().to_string();
    assert!(consumer.starts_with("tmp-"));
    sql(&format!("INSERT INTO {t} SELECT generate_series(1, 3)")).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let e = tokio::time::timeout(Duration::from_secs(20), StreamExt::next(&mut s)).await.unwrap().unwrap().unwrap();
        got.push(e.entity_id.as_i64().unwrap());
    }
    assert_eq!(got, vec![1, 2, 3]);
    // a long poll (30 s) ends at once when closed from elsewhere
    let closer = s.closer();
    let t0 = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        closer.close();
    });
    assert!(s.next().await.unwrap().is_none());
    assert!(t0.elapsed() < Duration::from_secs(5), "closed in {:?}", t0.elapsed());
    assert!(s.next_batch().await.unwrap().is_none());
    s.close().await.unwrap();
    let n: i64 = sql(&format!("SELECT count(*) FROM cdc.consumers WHERE name = '{consumer}'")).await[0].get(0);
    assert_eq!(n, 0, "temporary consumer dropped");
    // current_lsn is the server's
    let a = client.current_lsn().await.unwrap();
    let b: Lsn = sql("SELECT pg_current_wal_lsn()::text").await[0].get::<_, String>(0).parse().unwrap();
    assert!(a.0 > 0 && a <= b, "{} {}", a, b);
}

#[tokio::test]
async fn errors_are_typed() {
    let client = client().await;
    match client.stream_changes().consumer("no-such-consumer").await {
        Ok(mut s) => {
            let e = s.next().await.unwrap_err();
            assert_eq!(e.code(), Some("42704"), "{}", e);
        }
        Err(e) => assert_eq!(e.code(), Some("42704"), "{}", e),
    }
    let e = client.create_consumer("bad name!", &ConsumerOptions::default()).await.unwrap_err();
    assert!(e.code().is_some(), "{}", e);
    let e = client.stream_changes().entities(vec!["a"]).operations(vec![]).await.err().expect("an empty operations list is refused");
    assert_eq!(e.code(), Some("22023"), "{}", e);
    let _ = Start::Beginning;
}
