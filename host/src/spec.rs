//! What runs at a point: the one value the config, the command line and
//! the dataplane's environment resolve a point to, and the one dispatch
//! (`run`) consumes, at the dataplane's points and at event points.

use std::fmt;
use std::time::Duration;

use crate::hook::HookConfig;
pub use crate::hook::OnFailure;
use crate::verify::Verify;

/// Timeout of legacy scripts unless the config says otherwise: longer than
/// the slowest shipped case (the dataplane's default_hook.sh on a node
/// whose NetworkManager takes its full 90 s stop timeout to restart), but
/// a hung script still cannot hold the node forever.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// One handler. A missing hook is an error when the config is loaded, so
/// a `Wasm` handler always carries its hook.
#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    Builtin,
    Wasm(Box<HookConfig>),
    Script { script: String, timeout: Duration },
    None,
}

/// One handler of a point, in its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub handler: Handler,
    /// A required handler's failure stops the point and rolls back the
    /// handlers before it; an optional one's is logged and the rest run.
    pub required: bool,
    /// The built-in module's deadline (a hook's or a script's is in its
    /// handler).
    pub timeout: Duration,
}

/// A point: its handlers in order (a single handler is a chain of one),
/// what a failure leaves, and what must hold after.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSpec {
    pub steps: Vec<Step>,
    /// Given as `[[points.<point>.handlers]]`, even of one.
    pub chain: bool,
    pub on_failure: OnFailure,
    pub verify: Option<Verify>,
}

impl PointSpec {
    /// One required handler, rolled back on failure, nothing verified.
    pub fn one(handler: Handler) -> PointSpec {
        PointSpec {
            steps: vec![Step {
                handler,
                required: true,
                timeout: crate::hook::DEFAULT_TIMEOUT,
            }],
            chain: false,
            on_failure: OnFailure::Rollback,
            verify: None,
        }
    }

    /// The single handler of a point that is not a chain.
    pub fn single(&self) -> Option<&Handler> {
        match (self.chain, self.steps.as_slice()) {
            (false, [step]) => Some(&step.handler),
            _ => None,
        }
    }

    /// The wasm hooks it runs, by name.
    pub fn hooks(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match &s.handler {
                Handler::Wasm(h) => Some(h.name.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Every wasm hook it runs, to replace (a fetched component).
    pub fn hooks_mut(&mut self) -> impl Iterator<Item = &mut HookConfig> {
        self.steps.iter_mut().filter_map(|s| match &mut s.handler {
            Handler::Wasm(h) => Some(h.as_mut()),
            _ => None,
        })
    }

    pub fn is_builtin(&self) -> bool {
        self.single() == Some(&Handler::Builtin)
    }
}

impl Handler {
    /// The name its capability calls, state and journal go under.
    pub fn hook_name(&self) -> &str {
        match self {
            Handler::Builtin => crate::names::BUILTIN_HOOK,
            Handler::Wasm(h) => &h.name,
            Handler::Script { .. } => crate::names::SCRIPT_HOOK,
            Handler::None => "none",
        }
    }

    /// `builtin`, `wasm`, `script` or `none`.
    pub fn kind(&self) -> &'static str {
        match self {
            Handler::Builtin => "builtin",
            Handler::Wasm(_) => "wasm",
            Handler::Script { .. } => "script",
            Handler::None => "none",
        }
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::Builtin => f.write_str("builtin"),
            Handler::Wasm(h) => write!(f, "wasm {} ({})", h.name, h.component.display()),
            Handler::Script { script, .. } => write!(f, "script {script:?}"),
            Handler::None => f.write_str("none"),
        }
    }
}

impl fmt::Display for PointSpec {
    /// The handler, or `chain: a -> b (optional)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(h) = self.single() {
            return write!(f, "{h}");
        }
        f.write_str("chain: ")?;
        for (i, s) in self.steps.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            write!(f, "{}", s.handler)?;
            if !s.required {
                f.write_str(" (optional)")?;
            }
        }
        Ok(())
    }
}
