//! Errors the client returns, which failures are worth a reconnect, and the
//! backoff between attempts.
//!
//! A gap (history the consumer had not read is gone: trim, retention, a
//! replay position behind the log's horizon) is its own variant, `Error::Gap`,
//! naming the lost range; the server reports it as SQLSTATE 55000 with the
//! range in the message (src/api/consumer.c CdcConsumerCheckGap,
//! src/api/groups.c, src/api/stream.c), which is where it is parsed from.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::lsn::Lsn;

/// SQLSTATE of "consumer busy" (another session is reading it).
pub const CONSUMER_BUSY: &str = "55006";
/// SQLSTATE of a gap (and of other "object not in prerequisite state" errors).
pub const GAP_SQLSTATE: &str = "55000";

/// Changes the reader had not read are gone from the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The consumer or group (None for a replay position behind the horizon).
    pub consumer: Option<String>,
    /// Changes committed from here...
    pub from: Lsn,
    /// ...up to here are lost.  A checkpoint at `to` accepts the gap
    /// (`Client::accept_gap`), after re-syncing the target.
    pub to: Lsn,
    /// The server's message, detail and hint (the way out).
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

/// An error from the server (with its SQLSTATE, detail and hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

/// What the client returns when something fails.
#[derive(Debug)]
pub enum Error {
    /// History the consumer had not read is gone (docs/log.md): never an
    /// empty batch that looks like "no changes".
    Gap(Gap),
    /// The server refused what was asked (unknown consumer, bad filter...).
    Server(ServerError, tokio_postgres::Error),
    /// The connection failed or was lost, and reconnecting gave up (or was
    /// not allowed).
    Connection(tokio_postgres::Error),
    /// An error returned by the caller's handler (`consume`).
    Handler(Box<dyn StdError + Send + Sync>),
    /// Bad use or bad data (an invalid LSN, a row the client cannot read).
    Invalid(String),
}

/// `Result` with the client's error.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The server's SQLSTATE, when the server raised the error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server(s, _) => Some(&s.code),
            Error::Gap(_) => Some(GAP_SQLSTATE),
            Error::Connection(e) => e.code().map(|c| c.code()),
            _ => None,
        }
    }

    /// The gap, when this error is one.
    pub fn gap(&self) -> Option<&Gap> {
        match self {
            Error::Gap(g) => Some(g),
            _ => None,
        }
    }

    /// Wrap an error of the handler (consume, groups).
    pub fn handler<E: Into<Box<dyn StdError + Send + Sync>>>(e: E) -> Error {
        Error::Handler(e.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Gap(g) => {
                write!(f, "gap: changes committed between {} and {} are lost: {}", g.from, g.to, g.message)?;
                if let Some(h) = &g.hint {
                    write!(f, " (hint: {})", h)?;
                }
                Ok(())
            }
            Error::Server(s, _) => {
                write!(f, "{} (SQLSTATE {})", s.message, s.code)?;
                if let Some(d) = &s.detail {
                    write!(f, ": {}", d)?;
                }
                if let Some(h) = &s.hint {
                    write!(f, " (hint: {})", h)?;
                }
                Ok(())
            }
            Error::Connection(e) => write!(f, "connection: {}", e),
            Error::Handler(e) => write!(f, "handler: {}", e),
            Error::Invalid(s) => write!(f, "{}", s),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Server(_, e) | Error::Connection(e) => Some(e),
            Error::Handler(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        classify(e, None)
    }
}

impl From<crate::lsn::ParseLsnError> for Error {
    fn from(e: crate::lsn::ParseLsnError) -> Error {
        Error::Invalid(e.to_string())
    }
}

/// Turn a driver error into the client's: a gap, a server error or a
/// connection error.  `from` is the replay position asked for, if any (the
/// start of the range when the server says only "before X").
pub(crate) fn classify(e: tokio_postgres::Error, from: Option<Lsn>) -> Error {
    let db = match e.as_db_error() {
        Some(db) => db,
        None => {
            // closed, I/O, connect and protocol failures: the connection is
            // gone; a value the client cannot read is the client's problem
            let conversion = e.to_string().starts_with("error deserializing")
                || e.to_string().starts_with("error serializing");
            return if conversion { Error::Invalid(e.to_string()) } else { Error::Connection(e) };
        }
    };
    let code = db.code().code().to_string();
    if is_connection_code(&code) {
        return Error::Connection(e);
    }
    if code == GAP_SQLSTATE {
        if let Some((consumer, gfrom, gto)) = parse_gap(db.message()) {
            return Error::Gap(Gap {
                consumer,
                from: gfrom.or(from).unwrap_or_default(),
                to: gto,
                message: db.message().to_string(),
                detail: db.detail().map(str::to_string),
                hint: db.hint().map(str::to_string),
            });
        }
    }
    let s = ServerError {
        code,
        message: db.message().to_string(),
        detail: db.detail().map(str::to_string),
        hint: db.hint().map(str::to_string),
    };
    Error::Server(s, e)
}

/// The lost range in the server's gap messages:
///   consumer "c" has lost changes committed between A and B
///   consumer group "g" has a gap: changes committed between A and B are gone
///   the change log no longer holds changes committed before B
pub(crate) fn parse_gap(msg: &str) -> Option<(Option<String>, Option<Lsn>, Lsn)> {
    let quoted = || {
        let a = msg.find('"')?;
        let b = msg[a + 1..].rfind('"')? + a + 1;
        Some(msg[a + 1..b].to_string())
    };
    let lsn_at = |s: &str| -> Option<Lsn> {
        let end = s.find(|c: char| !(c.is_ascii_hexdigit() || c == '/')).unwrap_or(s.len());
        s[..end].parse().ok()
    };
    if msg.starts_with("consumer ") {
        let rest = &msg[msg.find(" committed between ")? + " committed between ".len()..];
        let from = lsn_at(rest)?;
        let rest = &rest[rest.find(" and ")? + 5..];
        let to = lsn_at(rest)?;
        return Some((quoted(), Some(from), to));
    }
    if msg.starts_with("the change log no longer holds changes committed before ") {
        let to = lsn_at(&msg["the change log no longer holds changes committed before ".len()..])?;
        return Some((None, None, to));
    }
    None
}

/// SQLSTATEs that mean the connection is gone or unusable.
fn is_connection_code(code: &str) -> bool {
    code.starts_with("08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
}

/// Whether a lost connection (retry on a new one).
pub(crate) fn is_connection_error(e: &Error) -> bool {
    matches!(e, Error::Connection(_))
}

/// Whether worth another attempt: a lost connection, a busy consumer, a
/// serialization failure (a trim committing during a read) or a deadlock.
pub(crate) fn is_retryable(e: &Error) -> bool {
    match e {
        Error::Connection(_) => true,
        Error::Server(s, _) => s.code == CONSUMER_BUSY || s.code == "40001" || s.code == "40P01",
        _ => false,
    }
}

/// Reconnection policy: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// first delay (default 100 ms), doubled per failed attempt...
    pub initial_delay: Duration,
    /// ...up to this (default 10 s)
    pub max_delay: Duration,
    /// attempts in a row before giving up (None: never; Some(0): no retry)
    pub max_attempts: Option<u32>,
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect { initial_delay: Duration::from_millis(100), max_delay: Duration::from_secs(10), max_attempts: None }
    }
}

impl Reconnect {
    /// Never retry: the first lost connection is returned as an error.
    pub fn never() -> Reconnect {
        Reconnect { max_attempts: Some(0), ..Reconnect::default() }
    }
}

/// Attempts in a row under a `Reconnect` policy.
#[derive(Debug)]
pub(crate) struct Backoff {
    policy: Reconnect,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(policy: Reconnect) -> Backoff {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id() as u64);
        Backoff { policy, attempt: 0, seed: h.finish() | 1 }
    }

    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay; None when attempts are exhausted.  Half the base
    /// delay plus a random half, so that many clients do not retry in step.
    pub(crate) fn next_delay(&mut self) -> Option<Duration> {
        if let Some(max) = self.policy.max_attempts {
            if self.attempt >= max {
                return None;
            }
        }
        let factor = 1u32 << self.attempt.min(20);
        let base = self.policy.initial_delay.saturating_mul(factor).min(self.policy.max_delay);
        self.attempt += 1;
        // xorshift: jitter needs no cryptography
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let frac = (self.seed % 1000) as u32;
        Some(base / 2 + base / 2 * frac / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gap_messages_parse() {
        let (c, f, t) = parse_gap("consumer \"audit\" has lost changes committed between 0/1A2B3C and 0/3000000").unwrap();
        assert_eq!(c.as_deref(), Some("audit"));
        assert_eq!(f, Some("0/1A2B3C".parse().unwrap()));
        assert_eq!(t, "0/3000000".parse().unwrap());
        let (c, f, t) = parse_gap("consumer group \"g-1\" has a gap: changes committed between 0/10 and 1/20 are gone").unwrap();
        assert_eq!((c.as_deref(), f, t), (Some("g-1"), Some(Lsn(0x10)), Lsn((1 << 32) | 0x20)));
        let (c, f, t) = parse_gap("the change log no longer holds changes committed before 0/5000000").unwrap();
        assert_eq!((c, f, t), (None, None, Lsn(0x500_0000)));
        assert!(parse_gap("consumer \"x\" does not exist").is_none());
        assert!(parse_gap("cannot do that").is_none());
    }

    #[test]
    fn backoff_grows_bounded_and_gives_up() {
        let mut b = Backoff::new(Reconnect { initial_delay: Duration::from_millis(100), max_delay: Duration::from_millis(400), max_attempts: Some(4) });
        let d: Vec<Duration> = std::iter::from_fn(|| b.next_delay()).collect();
        assert_eq!(d.len(), 4);
        for (i, x) in d.iter().enumerate() {
            let base = Duration::from_millis((100u64 << i).min(400));
            assert!(*x >= base / 2 && *x <= base, "attempt {}: {:?} not within [{:?}, {:?}]", i, x, base / 2, base);
        }
        b.reset();
        assert!(b.next_delay().is_some());
        assert!(Backoff::new(Reconnect::never()).next_delay().is_none());
    }
}
