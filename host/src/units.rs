//! Values of settings that many modules read: durations, sizes, sha256
//! digests. A leaf: it imports nothing of nethook's.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// No hook point may be held up longer than this.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

pub fn parse_sha256(s: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| format!("{s:?} is not 64 hexadecimal digits"))?;
    Ok(out)
}

/// A duration that may be zero (`0`, `"0s"`), at most 24h.
pub fn duration_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let parsed = parse_duration(d, "\"250ms\", \"0s\"")?;
    if parsed > MAX_DURATION {
        return Err(serde::de::Error::custom("duration must be at most 24h"));
    }
    Ok(parsed)
}

/// A list of durations, e.g. `["1s", "3s"]`.
pub fn duration_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    #[derive(Deserialize)]
    struct One(#[serde(deserialize_with = "duration_value")] Duration);
    let v: Vec<One> = Vec::deserialize(d)?;
    Ok(v.into_iter().map(|o| o.0).collect())
}

/// A required duration, as text ("20s") or seconds.
pub fn duration_value<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    duration(d)?.ok_or_else(|| serde::de::Error::custom("a duration is required"))
}

/// `"30s"`, `"500ms"`, `"2m"`, or an integer number of seconds.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let parsed = parse_duration(d, "\"30s\", \"500ms\"")?;
    if parsed.is_zero() || parsed > MAX_DURATION {
        return Err(serde::de::Error::custom(
            "duration must be greater than zero and at most 24h",
        ));
    }
    Ok(Some(parsed))
}

/// Text (humantime) or an integer number of seconds, unbounded; `examples`
/// go into the error for text that is not a duration.
fn parse_duration<'de, D: Deserializer<'de>>(d: D, examples: &str) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Secs(s) => Duration::from_secs(s),
        Raw::Text(t) => humantime::parse_duration(&t).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {t:?}: {e} (write e.g. {examples} or an integer number of seconds)"
            ))
        })?,
    })
}

/// `"64MiB"`, `"512KiB"`, `"1GiB"`, or an integer number of bytes.
pub fn memory<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bytes(u64),
        Text(String),
    }
    let bytes = match Raw::deserialize(d)? {
        Raw::Bytes(b) => b,
        Raw::Text(t) => parse_size(&t).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid memory size {t:?} (write e.g. \"64MiB\", \"512KiB\", \"1GiB\" or an integer number of bytes)"
            ))
        })?,
    };
    if bytes < 1 << 20 {
        return Err(serde::de::Error::custom(
            "memory must be at least 1MiB: a Rust guest needs that to start",
        ));
    }
    Ok(Some(bytes))
}

pub fn parse_size(t: &str) -> Option<u64> {
    let t = t.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    num.checked_mul(mult)
}
