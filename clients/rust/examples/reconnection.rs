//! Reconnection, written out: the stream is opened without its own retries
//! (`Reconnect::never()`), so a lost connection comes back as an error; the
//! loop logs it, backs off and opens the stream again from the consumer's
//! checkpoint (automatic checkpoints: changes handed out after the last
//! committed checkpoint come again, none is lost).  The client does all of
//! this by itself with its default `Reconnect` policy.
mod common;

use std::time::Duration;

use cdc_ext::{ConsumerOptions, Reconnect};

const CONSUMER: &str = "reconnecting";

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();
    if !client.list_consumers().await?.iter().any(|c| c == CONSUMER) {
        client.create_consumer(CONSUMER, &ConsumerOptions { entities: Some(vec!["products".into()]), ..Default::default() }).await?;
    }
    let backoff = Duration::from_millis(std::env::var("BACKOFF_MS").ok().and_then(|s| s.parse().ok()).unwrap_or(5000));

    while !stop.is_closed() {
        let result = client.stream_changes().consumer(CONSUMER).reconnect(Reconnect::never()).closer(&stop).await;
        match result {
            Ok(mut stream) => loop {
                match stream.next().await {
                    Ok(Some(c)) => say!("processed {} {} ({}, {})", c.operation, c.entity_id, c.commit_lsn, c.seq),
                    Ok(None) => break, // stopped
                    Err(e) => {
                        say!("stream error: {}", e);
                        break; // reconnect
                    }
                }
            },
            Err(e) => say!("connection error: {}", e),
        }
        if stop.is_closed() {
            break;
        }
        // Backoff before reconnecting
        say!("reconnecting in {:?}", backoff);
        tokio::time::sleep(backoff).await;
    }
    Ok(())
}
