//! WAL positions (`pg_lsn`): the `"X/Y"` text PostgreSQL prints, as a `u64`,
//! and the `(commit_lsn, seq)` cursor order of the change stream.

use std::error::Error as StdError;
use std::fmt;
use std::str::FromStr;

use tokio_postgres::types::{accepts, to_sql_checked, FromSql, IsNull, ToSql, Type};

/// A WAL position.  Prints and parses as PostgreSQL does (`16/B374D848`);
/// converts from and to `u64`; the difference of two is a number of bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl Lsn {
    /// The position as a number (bytes of WAL since the start).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl From<u64> for Lsn {
    fn from(v: u64) -> Lsn {
        Lsn(v)
    }
}

impl From<Lsn> for u64 {
    fn from(l: Lsn) -> u64 {
        l.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}

/// A text that is not an LSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseLsnError(pub String);

impl fmt::Display for ParseLsnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid LSN \"{}\"", self.0)
    }
}

impl StdError for ParseLsnError {}

impl FromStr for Lsn {
    type Err = ParseLsnError;

    /// `"16/B374D848"`: two hexadecimal halves of 1 to 8 digits.
    fn from_str(s: &str) -> Result<Lsn, ParseLsnError> {
        let bad = || ParseLsnError(s.to_string());
        let (hi, lo) = s.split_once('/').ok_or_else(bad)?;
        let half = |h: &str| {
            if h.is_empty() || h.len() > 8 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                None
            } else {
                u32::from_str_radix(h, 16).ok()
            }
        };
        match (half(hi), half(lo)) {
            (Some(h), Some(l)) => Ok(Lsn(((h as u64) << 32) | l as u64)),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<&str> for Lsn {
    type Error = ParseLsnError;
    fn try_from(s: &str) -> Result<Lsn, ParseLsnError> {
        s.parse()
    }
}

/// Bytes of WAL between two positions (zero when `rhs` is ahead).
impl std::ops::Sub for Lsn {
    type Output = u64;
    fn sub(self, rhs: Lsn) -> u64 {
        self.0.saturating_sub(rhs.0)
    }
}

// pg_lsn travels as an 8-byte big-endian integer in binary format.
impl<'a> FromSql<'a> for Lsn {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Lsn, Box<dyn StdError + Sync + Send>> {
        let b: [u8; 8] = raw.try_into().map_err(|_| "pg_lsn: expected 8 bytes")?;
        Ok(Lsn(u64::from_be_bytes(b)))
    }
    accepts!(PG_LSN);
}

impl ToSql for Lsn {
    fn to_sql(&self, _: &Type, out: &mut tokio_postgres::types::private::BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&self.0.to_be_bytes());
        Ok(IsNull::No)
    }
    accepts!(PG_LSN);
    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_like_postgres() {
        let l: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(l.0, 0x16_B374_D848);
        assert_eq!(l.to_string(), "16/B374D848");
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert_eq!("ffffffff/FFFFFFFF".parse::<Lsn>().unwrap().0, u64::MAX);
        for bad in ["", "1", "/1", "1/", "1/2/3", "g/1", "123456789/0", "+1/2", " 1/2"] {
            assert!(bad.parse::<Lsn>().is_err(), "{:?} parsed", bad);
        }
        assert_eq!(Lsn(100) - Lsn(40), 60);
        assert_eq!(Lsn(40) - Lsn(100), 0);
    }
}
