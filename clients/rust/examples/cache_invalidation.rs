//! Cache invalidation: drop the cached copy of every user and product that
//! changed.  The key is the entity and its exact key as JSON
//! (`public.products:9007199254740993`).
mod common;

use std::collections::HashMap;

use cdc_ext::ConsumerOptions;

/// The cache (a stand-in with the usual call).
struct Cache(HashMap<String, String>);

impl Cache {
    async fn invalidate(&mut self, key: &str) -> cdc_ext::Result<()> {
        self.0.remove(key);
        say!("invalidated {}", key);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> cdc_ext::Result<()> {
    let client = common::client().await?;
    let stop = common::stop_signal();
    let mut cache = Cache(HashMap::new());
    if !client.list_consumers().await?.iter().any(|c| c == "cache") {
        client.create_consumer("cache", &ConsumerOptions::default()).await?;
    }

    let mut stream = client.stream_changes().consumer("cache").entities(vec!["users", "products"]).closer(&stop).await?;

    while let Some(change) = stream.next().await? {
        let cache_key = format!("{}:{}", change.entity, change.entity_id);
        cache.invalidate(&cache_key).await?;
    }
    stream.close().await?;
    Ok(())
}
