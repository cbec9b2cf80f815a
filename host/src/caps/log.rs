//! `log`: structured lines, attributed to the hook and point.

use std::fmt::Write;

use super::{Caller, Host};
use crate::bindings::nethook::hooks::log::Level;
use crate::text;

impl Host {
    pub fn log(&mut self, level: Level, message: &str, fields: &[(String, String)]) {
        if !self.logger.spend_line() {
            return;
        }
        let line = render(message, fields);
        let _ = self.read("log", "log", line.clone(), Ok(()), |h| {
            h.logger.emit(level, &line);
            Ok(())
        });
    }

    /// Lines this run may log (default [`MAX_LINES`]); benchmarks lift it.
    pub fn set_log_budget(&mut self, lines: u64) {
        self.logger.budget = lines;
    }

    /// A line the guest wrote to stdout or stderr (not a capability call):
    /// counted against the same budget as `log`.
    pub fn output(&mut self, stream: &'static str, line: &str) {
        if !self.logger.spend_line() {
            return;
        }
        self.logger.output(stream, &render(line, &[]));
    }
}

/// Log lines one hook run may write.
pub const MAX_LINES: u64 = 10_000;

pub struct Log {
    caller: Caller,
    lines: u64,
    budget: u64,
}

impl Log {
    pub fn new(caller: Caller) -> Log {
        Log {
            caller,
            lines: 0,
            budget: MAX_LINES,
        }
    }

    /// Whether one more line fits the budget. A guest logging in a loop
    /// must not fill the node's disk: past the budget, lines are dropped
    /// (and said to be, once).
    fn spend_line(&mut self) -> bool {
        self.lines += 1;
        if self.lines == self.budget + 1 {
            let budget = self.budget;
            let warning = format!("log budget of {budget} lines spent; further lines dropped");
            self.emit(Level::Warn, &warning);
        }
        self.lines <= self.budget
    }

    /// Emit an already rendered line at `level`.
    pub fn emit(&self, level: Level, line: &str) {
        let (hook, point) = (self.caller.hook.as_str(), self.caller.point.name());
        match level {
            Level::Trace => tracing::trace!(hook, point, "{line}"),
            Level::Debug => tracing::debug!(hook, point, "{line}"),
            Level::Info => tracing::info!(hook, point, "{line}"),
            Level::Warn => tracing::warn!(hook, point, "{line}"),
            Level::Error => tracing::error!(hook, point, "{line}"),
        }
    }

    /// A line the guest wrote to stdout or stderr.
    pub fn output(&self, stream: &'static str, line: &str) {
        let (hook, point) = (self.caller.hook.as_str(), self.caller.point.name());
        tracing::info!(hook, point, stream, "{line}");
    }
}

/// Bytes kept of a message, a field key or a field value.
const MAX_TEXT: usize = 8 << 10;

/// `message key=value ...`, one line however the guest wrote it: unsafe
/// characters in the message are escaped (`crate::text`), keys and values
/// that are not plain words are quoted with their escapes, so no part can
/// pass for a line or a field of nethook's own, and each is clipped.
fn render(message: &str, fields: &[(String, String)]) -> String {
    let mut line = text::escape(text::clip(message, MAX_TEXT)).into_owned();
    let plain = |s: &str| {
        !s.is_empty()
            && !s.chars().any(|c| {
                c.is_whitespace() || c == '"' || c == '=' || c == '\\' || text::is_unsafe(c)
            })
    };
    for (k, v) in fields {
        let (k, v) = (text::clip(k, MAX_TEXT), text::clip(v, MAX_TEXT));
        let _ = match (plain(k), plain(v)) {
            (true, true) => write!(line, " {k}={v}"),
            (true, false) => write!(line, " {k}={v:?}"),
            (false, true) => write!(line, " {k:?}={v}"),
            (false, false) => write!(line, " {k:?}={v:?}"),
        };
    }
    line
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn fields_are_appended_and_quoted_when_needed() {
        let f = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            render(
                "link",
                &[f("name", "eth0"), f("label", "a b"), f("mac", "")]
            ),
            r#"link name=eth0 label="a b" mac="""#
        );
    }

    #[test]
    fn nothing_a_guest_logs_starts_a_line_or_a_field_of_its_own() {
        let f = |k: &str, v: &str| (k.to_string(), v.to_string());
        let line = render(
            "ok\nFORGED nethook: level=ERROR",
            &[
                f("k\nFORGED", "v"),
                f("hook=builtin x", "1"),
                f("v", "a\nFORGED level=ERROR"),
            ],
        );
        assert_eq!(
            line,
            r#"ok\nFORGED nethook: level=ERROR "k\nFORGED"=v "hook=builtin x"=1 v="a\nFORGED level=ERROR""#
        );
        assert!(!line.contains('\n'));
    }
}
