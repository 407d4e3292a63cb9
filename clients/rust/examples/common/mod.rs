// Shared by the examples: the client (connection from DATABASE_URL or the
// usual PG* variables) and a stop handle, closed by SIGTERM or Ctrl-C (the
// example finishes what it holds and exits 0), or after EXAMPLE_SECONDS.
#![allow(dead_code)]

use std::time::Duration;

use cdc_ext::{Client, Closer};

pub async fn client() -> cdc_ext::Result<Client> {
    Client::connect_env().await
}

/// Closed by SIGTERM, SIGINT, or after EXAMPLE_SECONDS if set.
pub fn stop_signal() -> Closer {
    let closer = Closer::new();
    let c = closer.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (mut term, mut int) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(t), Ok(i)) => (t, i),
            _ => return,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        c.close();
    });
    if let Some(s) = std::env::var("EXAMPLE_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()) {
        closer.close_after(Duration::from_secs_f64(s));
    }
    closer
}

/// A line of output, flushed at once (the tests read it as it comes).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
