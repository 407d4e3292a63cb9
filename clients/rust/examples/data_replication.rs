//! Data replication: products into products_replica (TARGET_DATABASE_URL
//! for another database; default the same one), keyed by the exact id.
//! A batch is checkpointed only after the target committed it, so a crash
//! repeats at most the last batch, and applying it again is harmless
//! (upserts and deletes by key).
mod common;

use cdc_ext::{Client, ConsumerOptions, Operation};

const CONSUMER: &str = "replica";

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let source_client = common::client().await?;
    let target_client = match std::env::var("TARGET_DATABASE_URL") {
        Ok(url) => Client::connect(&url).await?,
        Err(_) => source_client.clone(),
    };
    let stop = common::stop_signal();
    if !source_client.list_consumers().await?.iter().any(|c| c == CONSUMER) {
        source_client.create_consumer(CONSUMER, &ConsumerOptions { entities: Some(vec!["products".into()]), ..Default::default() }).await?;
    }

    // Replicate to the target, from where the last run stopped
    let mut stream = source_client.stream_changes().consumer(CONSUMER).auto_checkpoint(false).closer(&stop).await?;
    while let Some(batch) = stream.next_batch().await? {
        let last = match batch.last() {
            Some(c) => c.clone(),
            None => continue,
        };
        let tx = target_client.begin().await?;
        for change in &batch {
            match change.operation {
                Operation::Insert | Operation::Update => {
                    let row = change.new_data.as_ref().map(|v| v.to_string());
                    tx.execute(
                        "INSERT INTO products_replica SELECT * FROM jsonb_populate_record(NULL::products_replica, $1::text::jsonb) \
                         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price, category = EXCLUDED.category",
                        &[&row],
                    )
                    .await?;
                }
                Operation::Delete => {
                    tx.execute("DELETE FROM products_replica WHERE id = ($1::text::jsonb #>> '{}')::bigint", &[&change.entity_id.to_string()]).await?;
                }
                Operation::Truncate => {
                    tx.execute("TRUNCATE products_replica", &[]).await?;
                }
                _ => {}
            }
        }
        tx.commit().await?;
        stream.checkpoint(&last).await?;
        say!("replicated {} changes up to ({}, {})", batch.len(), last.commit_lsn, last.seq);
    }
    stream.close().await?;
    Ok(())
}
