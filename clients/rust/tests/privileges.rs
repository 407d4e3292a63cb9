// The client's normal paths need only the grants the extension's README
// gives an application role (USAGE on cdc, EXECUTE on its functions, SELECT
// on cdc.consumers) and SELECT on its tables: nothing superuser-only.
mod common;

use std::time::Duration;

use cdc_ext::{BackfillInfo, BackfillState, Client, ConsumeOptions, ConsumerOptions, Operation, ReadOptions, Start};
use common::*;

/// The tests here run at once; two GRANTs on schema cdc at the same moment
/// fail ("tuple concurrently updated"): one test at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[tokio::test]
async fn an_application_role_with_the_readme_grants() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ensure_extension().await;
    let role = uniq("rust_app");
    let t = uniq("priv");
    sql(&format!(
        "CREATE ROLE {role} LOGIN; \
         GRANT USAGE ON SCHEMA cdc TO {role}; \
         GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cdc TO {role}; \
         GRANT SELECT ON cdc.consumers TO {role}; \
         CREATE TABLE {t} (id bigint PRIMARY KEY, v numeric); \
         GRANT SELECT ON {t} TO {role}"
    ))
    .await;
    let is_super: bool = sql(&format!("SELECT rolsuper FROM pg_roles WHERE rolname = '{role}'")).await[0].get(0);
    assert!(!is_super);
    let client = Client::connect(&format!("{} user={}", conninfo(), role)).await.unwrap();
    let c = uniq("pc");
    let start = client.create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }).await.unwrap();
    sql(&format!("INSERT INTO {t} VALUES (9007199254740993, 0.1), (2, 123456789012345678901234567890.5)")).await;
    wait_for_log().await;
    let mut s = client.stream_changes().consumer(&c).batch_size(1).await.unwrap();
    let a = s.next().await.unwrap().unwrap();
    let b = s.next().await.unwrap().unwrap();
    assert_eq!(a.entity_id.to_string(), "9007199254740993");
    assert_eq!(b.new_data.as_ref().unwrap()["v"].to_string(), "123456789012345678901234567890.5");
    s.checkpoint(&b).await.unwrap();
    s.close().await.unwrap();
    let lag = client.lag(&c).await.unwrap();
    assert_eq!((lag.checkpoint_lsn, lag.checkpoint_seq), b.position());
    assert!(client.current_lsn().await.unwrap() >= start);
    client.status().await.unwrap();
    // a temporary consumer, a replay, consume()
    let mut s = client.stream_changes().entities(vec![t.clone()]).from_lsn(start).batch_timeout(Duration::from_millis(0)).await.unwrap();
    assert_eq!(s.next_batch().await.unwrap().unwrap().len(), 2);
    s.close().await.unwrap();
    client.checkpoint_at(&c, start, 0).await.unwrap(); // backwards: a no-op
    sql(&format!("INSERT INTO {t} VALUES (3, 3)")).await;
    wait_for_log().await;
    let done = client
        .consume_with(&c, ConsumeOptions { until_empty: true, batch_timeout: Duration::from_millis(0), ..Default::default() }, |batch, _tx| async move {
            assert_eq!(batch.len(), 1);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(done.changes, 1);
    // a group
    let g = uniq("pg").replace('_', "-");
    client.create_group(&g, &ConsumerOptions { entities: Some(vec![t.clone()]), start: cdc_ext::Start::Lsn(start), ..Default::default() }, 5).await.unwrap();
    let m = client.group(&g, "m1");
    let leased = m.read(ReadOptions::default()).await.unwrap();
    assert_eq!(leased.len(), 3);
    assert_eq!(m.ack(&leased).await.unwrap(), 3);
    assert!(client.drop_group(&g).await.unwrap());
    assert!(client.drop_consumer(&c).await.unwrap());
    drop(client);
    sql(&format!("DROP TABLE {t}; DROP OWNED BY {role}; DROP ROLE {role}")).await;
}

// Backfills and schema versions as a role with exactly the README's consumer
// grants (no more): a snapshot consumer, backfill(), cancel_backfill(),
// backfills() listing only its own; and a table it may not read is not
// backfilled for it.
#[tokio::test]
async fn backfill_with_exactly_the_readme_grants() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ensure_extension().await;
    let role = uniq("rust_bf");
    let (t, hidden) = (uniq("privbf"), uniq("privbf_hidden"));
    sql(&format!(
        "CREATE ROLE {role} LOGIN; \
         GRANT USAGE ON SCHEMA cdc TO {role}; \
         GRANT EXECUTE ON FUNCTION \
             cdc.create_consumer(text, text[], text[], cdc.operation[], text), \
             cdc.drop_consumer(text), \
             cdc.stream(text, pg_lsn, timestamptz, boolean, text[], text[], cdc.operation[], integer, interval, boolean), \
             cdc.consume(text, integer, interval, boolean), \
             cdc.checkpoint(text, pg_lsn, integer), \
             cdc.consumer_info(), cdc.status(), cdc.writer_info(), cdc.current_lsn(), \
             cdc.wait_for_log(pg_lsn, interval), \
             cdc.backfill(text, text[]), cdc.cancel_backfill(bigint), cdc.backfill_info() \
           TO {role}; \
         GRANT SELECT ON cdc.consumers, cdc.backfills TO {role}; \
         CREATE TABLE {t} (id int PRIMARY KEY, v text); INSERT INTO {t} SELECT g, 'v' || g FROM generate_series(1, 20) g; \
         CREATE TABLE {hidden} (id int PRIMARY KEY); INSERT INTO {hidden} VALUES (1); \
         GRANT SELECT ON {t} TO {role}"
    ))
    .await;
    let client = Client::connect(&format!("{} user={}", conninfo(), role)).await.unwrap();
    let c = uniq("pbf");
    let opts = ConsumerOptions { entities: Some(vec![t.clone(), hidden.clone()]), start: Start::Snapshot, ..Default::default() };
    client.create_consumer(&c, &opts).await.unwrap();
    let mine: Vec<BackfillInfo> = client.backfills().await.unwrap();
    assert_eq!(mine.iter().map(|b| (b.consumer.as_str(), b.entity.clone())).collect::<Vec<_>>(), vec![(c.as_str(), format!("public.{t}"))], "only the table it may read");
    let rows = backfill_finished(&client, mine[0].id, 90).await;
    assert_eq!((rows[0].state, rows[0].rows_done), (BackfillState::Done, 20));
    let got = drain(&client, &c, true).await;
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|e| e.operation == Operation::Read && e.entity == format!("public.{t}") && e.schema_version.is_some()));
    let id = client.backfill(&c, None).await.unwrap();
    assert!(client.cancel_backfill(id).await.unwrap() <= 1);
    // another role's backfills are not listed, nor its own to cancel
    assert!(client.backfills().await.unwrap().iter().all(|b| b.consumer == c));
    let other = uniq("pbf_other");
    sql(&format!("SELECT cdc.create_consumer('{other}', entities => '{{{hidden}}}', start => 'snapshot')")).await;
    let theirs: i64 = sql(&format!("SELECT max(id) FROM cdc.backfills WHERE consumer = '{other}'")).await[0].get(0);
    assert!(client.backfills().await.unwrap().iter().all(|b| b.id != theirs));
    let e = client.cancel_backfill(theirs).await.unwrap_err();
    assert_eq!(e.code(), Some("42704"), "{}", e);
    assert!(client.drop_consumer(&c).await.unwrap());
    drop(client);
    sql(&format!("SELECT cdc.drop_consumer('{other}'); DROP TABLE {t}, {hidden}; DROP OWNED BY {role}; DROP ROLE {role}")).await;
}
