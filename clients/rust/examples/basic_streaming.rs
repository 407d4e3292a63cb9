//! Basic streaming: every change from now on (a temporary consumer), by
//! operation.  `cargo run --example basic_streaming`
mod common;

use cdc_ext::Operation;

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();

    // Start streaming from the current position
    let mut stream = client.stream_changes().closer(&stop).await?;
    say!("streaming as {}", stream.consumer());
    while let Some(change) = stream.next().await? {
        match change.operation {
            Operation::Insert => say!("New {}: {}", change.entity, change.entity_id),
            Operation::Update => say!("Updated {}: {}", change.entity, change.entity_id),
            Operation::Delete => say!("Deleted {}: {}", change.entity, change.entity_id),
            _ => say!("{} {}", change.operation, change.entity),
        }
    }
    stream.close().await?;
    Ok(())
}
