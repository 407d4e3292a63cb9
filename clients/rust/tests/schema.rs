// Schema changes (docs/schema-changes.md): every entry carries
// schema_version, so the product document's is_compatible_schema is one
// comparison; a consumer that asks for operation Schema also gets the shape
// before and after.  Through a consumer, a consumer group and a backfill's
// reads, each checked against what cdc.stream returns in SQL.
mod common;

use cdc_ext::{ChangeEntry, Client, ConsumerOptions, Lsn, Operation, ReadOptions, Start};
use common::*;

async fn client() -> Client {
    ensure_extension().await;
    Client::connect(&conninfo()).await.unwrap()
}

fn summary(entries: &[ChangeEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| format!("{}:{}", e.operation, e.new_data.as_ref().and_then(|d| d.get("id")).map(|v| v.to_string()).unwrap_or_default()))
        .collect()
}

/// What cdc.stream returns for the consumer (without consuming): lsn and
/// schema_version as the server prints them.
async fn server_versions(consumer: &str) -> Vec<(String, Option<String>)> {
    sql(&format!("SELECT lsn::text, schema_version::text FROM cdc.stream('{consumer}')"))
        .await
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn schema_version_follows_the_ddl() {
    let client = client().await;
    let t = uniq("sch_orders");
    let c = uniq("sch");
    let ops = vec![Operation::Insert, Operation::Update, Operation::Delete, Operation::Truncate, Operation::Schema];
    client
        .create_consumer(&c, &ConsumerOptions { entities: Some(vec![t.clone()]), operations: Some(ops), ..Default::default() })
        .await
        .unwrap();
    sql(&format!("CREATE TABLE {t} (id int PRIMARY KEY, total numeric)")).await;
    sql(&format!("INSERT INTO {t} VALUES (1, 10)")).await;
    sql(&format!(
        "BEGIN; INSERT INTO {t} VALUES (2, 20); \
         ALTER TABLE {t} ADD COLUMN currency text NOT NULL DEFAULT 'EUR'; \
         INSERT INTO {t} VALUES (3, 30, 'USD'); COMMIT"
    ))
    .await;
    let got = drain(&client, &c, false).await;
    assert_eq!(summary(&got), vec!["schema:", "insert:1", "insert:2", "schema:", "insert:3"]);

    // the same versions as the server's own text
    let server = server_versions(&c).await;
    assert_eq!(got.iter().map(|e| (e.lsn.to_string(), e.schema_version.map(|v| v.to_string()))).collect::<Vec<_>>(), server);

    // the document's loop: is_compatible_schema(&change) is one comparison
    let mut known: Option<Lsn> = None;
    let mut restarts = Vec::new();
    for change in got.iter().filter(|e| e.operation != Operation::Schema) {
        if known.is_some() && change.schema_version != known {
            restarts.push(change.new_data.as_ref().unwrap()["id"].to_string()); // "Schema change detected"
        }
        known = change.schema_version;
    }
    assert_eq!(restarts, vec!["3"]);

    // the schema entries: their versions are their positions; the shapes
    let (create, alter) = (&got[0], &got[3]);
    assert_eq!(create.schema_version, Some(create.lsn));
    assert_eq!(alter.schema_version, Some(alter.lsn));
    assert!(create.lsn < alter.lsn);
    assert_eq!(got[1].schema_version, Some(create.lsn));
    assert_eq!(got[2].schema_version, Some(create.lsn), "the row before the ALTER, in its transaction");
    assert_eq!(got[4].schema_version, Some(alter.lsn), "the row after it");
    assert!(create.old_data.is_none());
    assert_eq!(create.new_data.as_ref().unwrap()["command_tag"], "CREATE TABLE");
    let names = |d: &Option<cdc_ext::serde_json::Value>| -> Vec<String> {
        d.as_ref().unwrap()["columns"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&alter.old_data), vec!["id", "total"]);
    assert_eq!(names(&alter.new_data), vec!["id", "total", "currency"]);

    // a consumer that does not ask for schema entries: none, only the versions
    let plain = uniq("schplain");
    client.create_consumer(&plain, &ConsumerOptions { entities: Some(vec![t.clone()]), start: Start::Beginning, ..Default::default() }).await.unwrap();
    let rows = drain(&client, &plain, false).await;
    assert_eq!(summary(&rows), vec!["insert:1", "insert:2", "insert:3"]);
    assert_eq!(rows.iter().map(|e| e.schema_version).collect::<Vec<_>>(), vec![Some(create.lsn), Some(create.lsn), Some(alter.lsn)]);
    assert_eq!(rows.iter().map(|e| (e.lsn.to_string(), e.schema_version.map(|v| v.to_string()))).collect::<Vec<_>>(), server_versions(&plain).await);

    // a consumer group's entries carry it too (and their delivery count after it)
    let g = uniq("schgrp");
    client.create_group(&g, &ConsumerOptions { entities: Some(vec![t.clone()]), start: Start::Beginning, ..Default::default() }, 5).await.unwrap();
    // (a read looks at a bounded stretch of the log after the group's
    // frontier: from the beginning of a long log it takes several reads)
    let member = client.group(&g, "m");
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch.extend(member.read(ReadOptions { batch_size: 10, ..Default::default() }).await.unwrap());
        if batch.len() >= 3 {
            break;
        }
    }
    assert_eq!(batch.iter().map(|e| (e.schema_version, e.delivery_count)).collect::<Vec<_>>(), vec![(Some(create.lsn), 1), (Some(create.lsn), 1), (Some(alter.lsn), 1)]);
    client.drop_group(&g).await.unwrap();

    // a backfill's reads follow the current shape; a later ALTER moves the version again
    let id = client.backfill(&plain, None).await.unwrap();
    backfill_finished(&client, id, 90).await;
    sql(&format!("ALTER TABLE {t} RENAME COLUMN total TO amount; INSERT INTO {t} VALUES (4, 40, 'CHF')")).await;
    let more = drain(&client, &plain, true).await;
    // (drained without consuming before: the first three come again)
    let more = &more[3..];
    assert_eq!(summary(more), vec!["read:1", "read:2", "read:3", "insert:4"]);
    assert!(more[..3].iter().all(|e| e.schema_version == Some(alter.lsn)), "{:?}", more);
    let renamed = more[3].schema_version.expect("a version");
    assert!(renamed > alter.lsn, "the rename is a new version: {} after {}", renamed, alter.lsn);
    let rename_lsn: String = sql(&format!(
        "SELECT lsn::text FROM cdc.stream('{c}', operations => '{{schema}}') WHERE new_data->>'command_tag' = 'ALTER TABLE' ORDER BY commit_lsn DESC, seq DESC LIMIT 1"
    ))
    .await[0]
        .get(0);
    assert_eq!(renamed.to_string(), rename_lsn, "the version is the rename's schema entry");
    client.drop_consumer(&c).await.unwrap();
    client.drop_consumer(&plain).await.unwrap();
    sql(&format!("DROP TABLE {t}")).await;
}
