// Connection loss under the client's own reconnection: a terminated backend
// and a server restart in the middle of a stream (automatic and manual
// checkpoints) and of a consume() loop.  Nothing lost, nothing repeated.
// The tests restart the server: they run one at a time.
mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use cdc_ext::{ChangeEntry, Client, ConsumeOptions, ConsumerOptions, Reconnect};
use common::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

async fn ids_until(s: &mut cdc_ext::ChangeStream, last: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let t = Instant::now();
    while out.last() != Some(&last) {
        assert!(t.elapsed() < Duration::from_secs(60), "stuck after {:?}", out);
        let e: ChangeEntry = tokio::time::timeout(Duration::from_secs(60), s.next()).await.expect("a change in time").unwrap().unwrap();
        out.push(e.entity_id.as_i64().unwrap());
    }
    out
}

async fn terminate_readers() {
    sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE (query LIKE '%cdc.stream(%' OR query LIKE '%cdc.consume(%') AND pid <> pg_backend_pid()").await;
}

#[tokio::test]
async fn stream_survives_terminated_backend_and_restart() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ensure_extension().await;
    let client = Client::connect(&conninfo()).await.unwrap();
    for auto in [true, false] {
        let t = uniq("rc");
        let c = uniq("c");
        sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await;
        client.create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }).await.unwrap();
        let mut s = client
            .stream_changes()
            .consumer(&c)
            .batch_size(3)
            .auto_checkpoint(auto)
            .reconnect(Reconnect { initial_delay: Duration::from_millis(50), max_delay: Duration::from_millis(500), max_attempts: Some(200) })
            .await
            .unwrap();
        sql(&format!("INSERT INTO {t} SELECT generate_series(1, 5)")).await;
        let mut got = ids_until(&mut s, 5).await;
        terminate_readers().await;
        sql(&format!("INSERT INTO {t} SELECT generate_series(6, 10)")).await;
        got.extend(ids_until(&mut s, 10).await);
        restart_server().await;
        sql(&format!("INSERT INTO {t} SELECT generate_series(11, 15)")).await;
        got.extend(ids_until(&mut s, 15).await);
        assert_eq!(got, (1..=15).collect::<Vec<i64>>(), "auto_checkpoint {}", auto);
        s.close().await.unwrap();
        // the client's own connection came back too
        let lag = client.lag(&c).await.unwrap();
        if !auto {
            assert_eq!(lag.checkpoint_seq, 0, "manual mode moved nothing");
        }
        client.drop_consumer(&c).await.unwrap();
    }
}

#[tokio::test]
async fn without_reconnect_a_lost_connection_is_an_error() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ensure_extension().await;
    let client = Client::connect(&conninfo()).await.unwrap();
    let t = uniq("norc");
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY)")).await;
    let mut s = client.stream_changes().entities(vec![t.clone()]).batch_timeout(Duration::from_secs(5)).reconnect(Reconnect::never()).await.unwrap();
    let waiter = tokio::spawn(async move {
        let r = s.next().await;
        (r.map(|o| o.is_some()), s)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    terminate_readers().await;
    let (r, mut s) = waiter.await.unwrap();
    let e = r.expect_err("the loss is reported");
    assert!(matches!(e, cdc_ext::Error::Connection(_)), "{:?}", e);
    s.close().await.unwrap();
}

#[tokio::test]
async fn consume_exactly_once_across_lost_connections() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ensure_extension().await;
    let client = Client::connect(&conninfo()).await.unwrap();
    let t = uniq("ce");
    let sink = uniq("sink");
    let c = uniq("c");
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY); CREATE TABLE {sink} (id int PRIMARY KEY)")).await;
    client.create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }).await.unwrap();
    sql(&format!("INSERT INTO {t} SELECT generate_series(1, 10)")).await;
    wait_for_log().await;
    // a handler error rolls the batch back and is returned; the batch comes again
    let sink_q = format!("INSERT INTO {sink} VALUES ($1)");
    let e = client
        .consume_with(&c, ConsumeOptions { batch_size: 4, until_empty: true, ..Default::default() }, |batch, tx| {
            let q = sink_q.clone();
            async move {
                tx.execute(q.as_str(), &[&(batch[0].entity_id.as_i64().unwrap() as i32)]).await?;
                Err(cdc_ext::Error::handler("sink refused"))
            }
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("sink refused"), "{}", e);
    assert_eq!(sql(&format!("SELECT count(*) FROM {sink}")).await[0].get::<_, i64>(0), 0, "rolled back");
    // a lost connection in the middle of the loop (between batches and in a handler)
    let killer = tokio::spawn(async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            terminate_readers().await;
        }
    });
    let writer = {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 11..=40 {
                sql(&format!("INSERT INTO {t} VALUES ({i})")).await;
                tokio::time::sleep(Duration::from_millis(60)).await;
            }
        })
    };
    let closer = cdc_ext::Closer::new();
    let opts = ConsumeOptions {
        batch_size: 3,
        batch_timeout: Duration::from_millis(300),
        closer: Some(closer.clone()),
        reconnect: Reconnect { initial_delay: Duration::from_millis(50), max_delay: Duration::from_millis(500), max_attempts: Some(100) },
        ..Default::default()
    };
    let run = {
        let client = client.clone();
        let c = c.clone();
        let sink_q = sink_q.clone();
        tokio::spawn(async move {
            client
                .consume_with(&c, opts, |batch, tx| {
                    let q = sink_q.clone();
                    async move {
                        for e in &batch {
                            tx.execute(q.as_str(), &[&(e.entity_id.as_i64().unwrap() as i32)]).await?;
                        }
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Ok(())
                    }
                })
                .await
        })
    };
    writer.await.unwrap();
    killer.await.unwrap();
    wait_for_log().await;
    // stop once the sink holds everything (or after 60 s)
    let t0 = Instant::now();
    while sql(&format!("SELECT count(*) FROM {sink}")).await[0].get::<_, i64>(0) < 40 && t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    closer.close();
    let summary = run.await.unwrap().expect("consume survives lost connections");
    let ids: Vec<i32> = sql(&format!("SELECT id FROM {sink} ORDER BY id")).await.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, (1..=40).collect::<Vec<i32>>());
    assert_eq!(summary.changes, 40, "each change handed to a committed batch once");
    client.drop_consumer(&c).await.unwrap();
}
