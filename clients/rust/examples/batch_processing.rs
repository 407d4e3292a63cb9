//! Batch processing: batches of up to 100 changes (or what came within a
//! second), bulk-indexed, with a checkpoint at each batch boundary.
mod common;

use std::time::Duration;

use cdc_ext::{ChangeEntry, ConsumerOptions, Operation};

const CONSUMER: &str = "batch";

/// The search engine's bulk API (a stand-in that prints what it indexes).
async fn bulk_index_to_search(inserts: Vec<&ChangeEntry>) -> cdc_ext::Result<()> {
    if !inserts.is_empty() {
        let ids: Vec<String> = inserts.iter().map(|c| c.entity_id.to_string()).collect();
        say!("bulk indexed {}: {}", ids.len(), ids.join(","));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();
    if !client.list_consumers().await?.iter().any(|c| c == CONSUMER) {
        client.create_consumer(CONSUMER, &ConsumerOptions { entities: Some(vec!["products".into()]), ..Default::default() }).await?;
    }

    let mut stream = client
        .stream_changes()
        .consumer(CONSUMER)
        .batch_size(100)
        .batch_timeout(Duration::from_secs(1))
        .auto_checkpoint(false)
        .closer(&stop)
        .await?;

    while let Some(batch) = stream.next_batch().await? {
        // Process batch
        let inserts: Vec<_> = batch.iter().filter(|c| c.operation == Operation::Insert).collect();
        bulk_index_to_search(inserts).await?;

        // Checkpoint at batch boundary
        if let Some(last) = batch.last() {
            stream.checkpoint(last).await?;
        }
    }
    stream.close().await?;
    Ok(())
}
