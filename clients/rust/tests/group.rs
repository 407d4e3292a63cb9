// Consumer groups through GroupMember: leases, per-member delivery,
// ack / nack, pending, claim of a dead member's leases, and exactly-once
// acknowledgement in the sink's transaction (Client::begin + ack_in).
mod common;

use std::time::Duration;

use cdc_ext::{Client, ConsumerOptions, ReadOptions};
use common::*;

#[tokio::test]
async fn leases_acks_and_claims() {
    ensure_extension().await;
    let client = Client::connect(&conninfo()).await.unwrap();
    let t = uniq("grp");
    let g = uniq("g").replace('_', "-");
    sql(&format!("CREATE TABLE {t} (id bigint PRIMARY KEY, v int)")).await;
    client.create_group(&g, &ConsumerOptions { entities: Some(vec![t.clone()]), ..Default::default() }, 3).await.unwrap();
    sql(&format!("INSERT INTO {t} SELECT 9007199254740990 + g, g FROM generate_series(1, 6) g")).await;
    wait_for_log().await;
    let a = client.group(&g, "a");
    let b = client.group(&g, "b");
    let ro = ReadOptions { batch_size: 4, visibility_timeout: Duration::from_secs(30), ..Default::default() };
    let got_a = a.read(ro).await.unwrap();
    let got_b = b.read(ro).await.unwrap();
    assert_eq!(got_a.len(), 4);
    assert_eq!(got_b.len(), 2, "b gets what a does not hold");
    assert!(got_a.iter().chain(&got_b).all(|e| e.delivery_count == 1));
    let mut keys: Vec<String> = got_a.iter().chain(&got_b).map(|e| e.entity_id.to_string()).collect();
    keys.sort();
    assert_eq!(keys, (1..=6).map(|i| (9007199254740990u64 + i).to_string()).collect::<Vec<_>>(), "exact bigint keys, each once");
    let pend = a.pending(true).await.unwrap();
    assert_eq!(pend.len(), 4);
    assert!(pend.iter().all(|p| p.member == "a" && p.delivery_count == 1));
    assert_eq!(a.ack(&got_a[..2]).await.unwrap(), 2);
    assert_eq!(a.nack(&got_a[2..3]).await.unwrap(), 1);
    // the nacked change goes to the next reader, delivered again
    let again = b.read(ro).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].position(), got_a[2].position());
    assert_eq!(again[0].delivery_count, 2);
    // a dies holding got_a[3]: b claims it
    let claimed = b.claim(Duration::from_millis(0)).await.unwrap();
    assert!(claimed.iter().any(|e| e.position() == got_a[3].position()), "{:?}", claimed);
    // exactly-once: the sink write and the acks commit together, or neither
    let sink = uniq("gsink");
    sql(&format!("CREATE TABLE {sink} (k text PRIMARY KEY)")).await;
    let mut rest = got_b.clone();
    rest.extend(again.clone());
    rest.extend(claimed.clone());
    let tx = client.begin().await.unwrap();
    for e in &rest {
        tx.execute(&format!("INSERT INTO {sink} VALUES ($1)"), &[&e.entity_id.to_string()]).await.unwrap();
    }
    b.ack_in(&tx, &rest).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(b.pending(false).await.unwrap().len(), rest.len(), "rolled back: still pending");
    let tx = client.begin().await.unwrap();
    for e in &rest {
        tx.execute(&format!("INSERT INTO {sink} VALUES ($1)"), &[&e.entity_id.to_string()]).await.unwrap();
    }
    assert_eq!(b.ack_in(&tx, &rest).await.unwrap() as usize, rest.len());
    tx.commit().await.unwrap();
    assert_eq!(b.pending(false).await.unwrap().len(), 0);
    assert_eq!(sql(&format!("SELECT count(*) FROM {sink}")).await[0].get::<_, i64>(0), rest.len() as i64);
    assert!(b.read(ro).await.unwrap().is_empty());
    assert!(client.drop_group(&g).await.unwrap());
}
