// The client's normal paths need only the grants the extension's README
// gives an application role (USAGE on cdc, EXECUTE on its functions, SELECT
// on cdc.consumers) and SELECT on its tables: nothing superuser-only.
mod common;

use std::time::Duration;

use cdc_ext::{Client, ConsumeOptions, ConsumerOptions, ReadOptions};
use common::*;

#[tokio::test]
async fn an_application_role_with_the_readme_grants() {
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
