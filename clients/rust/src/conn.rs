//! One PostgreSQL connection of the client: the tokio-postgres client and the
//! task that drives its socket.  Dropping a Conn lets the task finish what
//! was sent and close; `abandon()` closes the socket at once (a long poll in
//! flight, a transaction left open by a dropped future): the server rolls
//! back and releases what the session held.

use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_postgres::{Config, NoTls};

use crate::error::{Error, Result};

pub(crate) struct Conn {
    pub(crate) client: Arc<tokio_postgres::Client>,
    task: JoinHandle<()>,
}

impl Conn {
    /// Connect (no TLS) and spawn the connection's task on the current runtime.
    pub(crate) async fn open(config: &Config) -> Result<Conn> {
        let (client, connection) = config.connect(NoTls).await.map_err(Error::Connection)?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { client: Arc::new(client), task })
    }

    /// Close the socket now, whatever is in flight.
    pub(crate) fn abandon(self) {
        self.task.abort();
    }

    /// Whether the connection is known to be gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed() || self.task.is_finished()
    }
}
