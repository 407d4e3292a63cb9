//! Checkpointing: track progress to resume after failures.  The progress is
//! the consumer's checkpoint in the database, `(commit_lsn, seq)`, moved by
//! `stream.checkpoint(&change)` every few changes; a restart continues right
//! after the last checkpoint (changes after it come again: process
//! idempotently).
mod common;

use cdc_ext::{ConsumerOptions, Start};

const CONSUMER: &str = "checkpointing";

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();
    if !client.list_consumers().await?.iter().any(|c| c == CONSUMER) {
        let opts = ConsumerOptions { entities: Some(vec!["products".into()]), start: Start::Now, ..Default::default() };
        client.create_consumer(CONSUMER, &opts).await?;
    }
    let lag = client.lag(CONSUMER).await?;
    say!("resuming after ({}, {})", lag.checkpoint_lsn, lag.checkpoint_seq);

    let every: u64 = std::env::var("CHECKPOINT_EVERY").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let mut stream = client.stream_changes().consumer(CONSUMER).auto_checkpoint(false).closer(&stop).await?;
    let mut processed = 0u64;
    while let Some(change) = stream.next().await? {
        // Process change
        say!("processed {} {} ({}, {})", change.operation, change.entity_id, change.commit_lsn, change.seq);
        processed += 1;
        // Checkpoint periodically
        if processed % every == 0 {
            stream.checkpoint(&change).await?;
            say!("checkpoint ({}, {})", change.commit_lsn, change.seq);
        }
    }
    stream.close().await?;
    Ok(())
}
