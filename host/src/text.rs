//! Text from outside — a guest's log line or error, a link name, a
//! registry's message — made safe to print: one line, no terminal
//! control, bounded. A leaf: it imports nothing of nethook's.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that must not reach a log or a terminal as they are: C0 and
/// C1 controls (newline, carriage return, ESC), the Unicode line and
/// paragraph separators some viewers break lines at, and the bidirectional
/// and zero-width format characters that make shown text differ from the
/// bytes (a forged line can hide in either).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}')
}

/// `s` with every unsafe character written as a Rust escape (`\n`,
/// `\u{1b}`); borrowed when there is none.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `escape(clip(s, max))`, saying how much was cut.
pub fn bounded(s: &str, max: usize) -> String {
    let kept = clip(s, max);
    let mut out = escape(kept).into_owned();
    if kept.len() < s.len() {
        let _ = write!(out, "... ({} more bytes)", s.len() - kept.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_separators_are_escaped_and_plain_text_borrowed() {
        assert!(matches!(escape("plain text = ok"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\nFORGED level=ERROR\r\u{1b}[31m"),
            "a\\nFORGED level=ERROR\\r\\u{1b}[31m"
        );
        assert_eq!(escape("x\u{2028}y\u{202e}z"), "x\\u{2028}y\\u{202e}z");
        assert_eq!(clip("aé", 2), "a");
        assert_eq!(bounded("abcdef", 3), "abc... (3 more bytes)");
        assert_eq!(bounded("a\nb", 10), "a\\nb");
    }
}
