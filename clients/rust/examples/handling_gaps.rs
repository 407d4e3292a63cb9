//! Handling gaps: when history the consumer had not read is gone (trimmed,
//! dropped by retention), every read fails with `Error::Gap` naming the lost
//! range, never an empty result that looks like "no changes".  Re-sync the
//! target from a snapshot of the tables, then accept the gap (a checkpoint
//! at the end of the range) and carry on.
mod common;

use cdc_ext::{ConsumerOptions, Error};

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();
    let consumer = std::env::var("CONSUMER").unwrap_or_else(|_| "gaps".into());
    if !client.list_consumers().await?.iter().any(|c| *c == consumer) {
        client.create_consumer(&consumer, &ConsumerOptions { entities: Some(vec!["products".into()]), ..Default::default() }).await?;
    }

    loop {
        let mut stream = client.stream_changes().consumer(&consumer).closer(&stop).await?;
        let result = loop {
            match stream.next().await {
                Ok(Some(change)) => say!("processed {} {}", change.operation, change.entity_id),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        stream.close().await?;
        match result {
            Ok(()) => return Ok(()),
            Err(Error::Gap(gap)) => {
                say!("gap detected: changes committed between {} and {} are lost", gap.from, gap.to);
                // Handle gap (e.g., trigger full sync)
                let n: i64 = client_count(&client).await?;
                say!("re-synced {} products from a snapshot", n);
                client.accept_gap(&consumer, &gap).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The "full sync": here, count the rows a re-sync would copy.
async fn client_count(client: &cdc_ext::Client) -> cdc_ext::Result<i64> {
    let tx = client.begin().await?;
    let rows = tx.query("SELECT count(*) FROM products", &[]).await?;
    tx.commit().await?;
    Ok(rows[0].get(0))
}
