//! `log`: structured lines, attributed to the hook and point.

use std::fmt::Write;

use super::{Caller, Host};
use crate::bindings::nethook::hooks::log::Level;

impl Host {
    pub fn log(&mut self, level: Level, message: &str, fields: &[(String, String)]) {
        // A guest logging in a loop must not fill the node's disk: past the
        // budget, lines are dropped (and said to be, once).
        self.logger.lines += 1;
        let budget = self.logger.budget;
        if self.logger.lines > budget {
            if self.logger.lines == budget + 1 {
                let warning = format!("log budget of {budget} lines spent; further lines dropped");
                self.logger.emit(Level::Warn, &warning);
            }
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

    /// A line the guest wrote to stdout or stderr (not a capability call).
    pub fn output(&self, stream: &'static str, line: &str) {
        self.logger.output(stream, line);
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

/// Bytes kept of a message or a field value.
const MAX_TEXT: usize = 8 << 10;

/// At most `MAX_TEXT` bytes, cut at a character boundary.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `message key=value ...`; control characters in the message are escaped
/// (a guest cannot forge log lines), values with spaces, quotes, `=` or
/// control characters are quoted, and everything is clipped.
fn render(message: &str, fields: &[(String, String)]) -> String {
    let mut line: String = clip(message)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    for (k, v) in fields {
        let (k, v) = (clip(k), clip(v));
        let plain = !v.is_empty()
            && !v
                .chars()
                .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
        if plain {
            let _ = write!(line, " {k}={v}");
        } else {
            let _ = write!(line, " {k}={v:?}");
        }
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
}
