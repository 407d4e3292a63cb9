//! Start from a specific position: an LSN (recovery), a timestamp, or the
//! beginning of the retained log (full replay).  Prints what the log holds
//! from there and stops when it has read everything.
//!   cargo run --example start_positions -- lsn 0/16B3748
//!   cargo run --example start_positions -- timestamp 1764000000123456   (microseconds)
//!   cargo run --example start_positions -- beginning
mod common;

use std::time::Duration;

use cdc_ext::{Error, Lsn};

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let builder = client.stream_changes().batch_timeout(Duration::from_millis(0));
    let builder = match arg(0).as_str() {
        // Start from a specific LSN (useful for recovery)
        "lsn" => builder.from_lsn(arg(1).parse::<Lsn>()?),
        // Start from a timestamp (microseconds since the Unix epoch, or a SystemTime)
        "timestamp" => builder.from_timestamp(arg(1).parse::<i64>().map_err(|e| Error::Invalid(e.to_string()))?),
        // Start from the beginning (full replay)
        "beginning" => builder.from_beginning(),
        other => return Err(Error::Invalid(format!("usage: start_positions lsn X/Y | timestamp MICROS | beginning (not {:?})", other))),
    };
    let builder = match std::env::var("ENTITIES") {
        Ok(e) => builder.entities(e.split(',').map(str::to_string).collect::<Vec<_>>()),
        Err(_) => builder,
    };
    let mut stream = builder.await?;
    let mut n = 0;
    // drain: an empty batch means everything up to now was read
    while let Some(batch) = stream.next_batch().await? {
        if batch.is_empty() {
            break;
        }
        for change in batch {
            n += 1;
            say!("{} {} {} at {} ({}, {})", change.operation, change.entity, change.entity_id, change.timestamp, change.commit_lsn, change.seq);
        }
    }
    say!("{} changes", n);
    stream.close().await?;
    Ok(())
}
