//! Audit: one structured record per capability call, as a tracing event on
//! target `nethook::audit` (at debug level) and, with `--audit FILE`, one
//! JSON line appended to that file.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// A call as audited.
#[derive(Debug, Serialize)]
pub struct Record<'a> {
    pub hook: &'a str,
    pub point: &'a str,
    pub capability: &'static str,
    pub operation: &'static str,
    pub args: &'a str,
    /// `ok`, `planned`, or the error (`denied: ...`, `failed: ...`).
    pub outcome: String,
    #[serde(rename = "duration_us", serialize_with = "micros")]
    pub elapsed: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

#[derive(Clone, Default)]
pub struct Audit {
    file: Option<Arc<Mutex<File>>>,
}

impl Audit {
    /// Append records to `path` (created if missing).
    pub fn to_file(path: &Path) -> std::io::Result<Audit> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Audit {
            file: Some(Arc::new(Mutex::new(file))),
        })
    }

    pub fn record(&self, r: Record<'_>) {
        macro_rules! event {
            ($level:ident) => {
                tracing::$level!(
                    target: "nethook::audit",
                    hook = r.hook,
                    point = r.point,
                    capability = r.capability,
                    operation = r.operation,
                    args = r.args,
                    outcome = %r.outcome,
                    duration_us = r.elapsed.as_micros() as u64,
                    "capability call"
                )
            };
        }
        // Every call, at debug: the default log says what each point did
        // in a few lines; the full audit is `--audit FILE` or
        // `NETHOOK_LOG=nethook::audit=debug`.
        event!(debug);
        if let Some(file) = &self.file {
            #[derive(Serialize)]
            struct Line<'a> {
                time: String,
                #[serde(flatten)]
                record: &'a Record<'a>,
            }
            let line = Line {
                time: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
                record: &r,
            };
            let mut text = serde_json::to_string(&line).expect("audit record serialises");
            text.push('\n');
            let mut f = file.lock().expect("audit lock");
            if let Err(e) = f.write_all(text.as_bytes()) {
                tracing::error!("cannot append to the audit file: {e}");
            }
        }
    }
}
