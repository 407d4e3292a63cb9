//! Audit log: every change the log retains, from the beginning, into the
//! audit_log table, exactly once: each batch of cdc.consume() and its
//! INSERTs commit in one transaction with the consumer's checkpoint, so a
//! crash at any point neither loses nor repeats a row.
mod common;

use std::time::Duration;

use cdc_ext::{ConsumeOptions, ConsumerOptions, Start};

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();
    if !client.list_consumers().await?.iter().any(|c| c == "audit") {
        let opts = ConsumerOptions { start: Start::Beginning, exclude_entities: Some(vec!["audit_log".into()]), ..Default::default() };
        client.create_consumer("audit", &opts).await?;
    }

    let opts = ConsumeOptions { batch_size: 100, batch_timeout: Duration::from_secs(1), closer: Some(stop), ..Default::default() };
    let done = client
        .consume_with("audit", opts, |batch, tx| async move {
            for change in &batch {
                // jsonb values travel as their exact JSON text
                let entity_id = change.entity_id.to_string();
                let old = change.old_data.as_ref().map(|v| v.to_string());
                let new = change.new_data.as_ref().map(|v| v.to_string());
                tx.execute(
                    "INSERT INTO audit_log (at_micros, entity, entity_id, operation, old_values, new_values, commit_lsn, seq) \
                     VALUES ($1, $2, $3::text::jsonb, $4, $5::text::jsonb, $6::text::jsonb, $7, $8)",
                    &[&change.timestamp, &change.entity, &entity_id, &change.operation.as_str(), &old, &new, &change.commit_lsn, &change.seq],
                )
                .await?;
            }
            say!("audited {} changes", batch.len());
            Ok(())
        })
        .await?;
    say!("{} batches, {} changes", done.batches, done.changes);
    Ok(())
}
