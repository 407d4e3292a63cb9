//! Filter by entity and by operation: four streams over the same retained
//! log, from the position given (or the beginning), each drained and counted.
//!   cargo run --example filters -- 0/16B3748
mod common;

use std::time::Duration;

use cdc_ext::{ChangeStreamBuilder, Lsn, Operation};

async fn drain(name: &str, builder: ChangeStreamBuilder) -> cdc_ext::Result<()> {
    let mut stream = builder.batch_timeout(Duration::from_millis(0)).await?;
    let mut seen = Vec::new();
    while let Some(batch) = stream.next_batch().await? {
        if batch.is_empty() {
            break;
        }
        for c in batch {
            seen.push(format!("{} {}", c.operation, c.entity));
        }
    }
    stream.close().await?;
    say!("{}: {}", name, seen.join(", "));
    Ok(())
}

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let from = |b: ChangeStreamBuilder| match std::env::args().nth(1) {
        Some(l) => l.parse::<Lsn>().map(|l| b.from_lsn(l)),
        None => Ok(b.from_beginning()),
    };

    // Only stream specific entities
    drain("users and orders", from(client.stream_changes().entities(vec!["users", "orders"]))?).await?;
    // Exclude entities
    drain("all but sessions and logs", from(client.stream_changes().exclude_entities(vec!["sessions", "*log*"]))?).await?;
    // Only inserts
    drain("inserts", from(client.stream_changes().operations(vec![Operation::Insert]))?).await?;
    // Inserts and updates (no deletes)
    drain("inserts and updates", from(client.stream_changes().operations(vec![Operation::Insert, Operation::Update]))?).await?;
    Ok(())
}
