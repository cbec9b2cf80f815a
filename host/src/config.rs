//! The TOML configuration file: which handler runs at each hook point, the
//! hooks that can be selected, and their limits.
//!
//! Every error names the file, line and column of the offending key or
//! value. Parsing has no side effects, so a bad file changes nothing.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::caps::exec::{ExecMode, Node};
use crate::caps::Grants;
use crate::hook::{HookConfig, HookSource, DEFAULT_MEMORY, DEFAULT_TIMEOUT};
use crate::names::{HookName, IfName};
use crate::point::{DataplanePoint, EventPoint};
use crate::spec::{Handler, OnFailure, PointSpec, Step};
use crate::units::{duration, memory, parse_sha256};
use crate::verify::Verify;

/// Under the host root: records of what was changed must outlive the
/// dataplane's container, whose own filesystem is discarded at a restart.
pub const DEFAULT_STATE_DIR: &str = "var/lib/nethook";
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/nethook";
pub const DEFAULT_HOST_ROOT: &str = "/host";
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A configuration error, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}{}", location(file, *line, *column), excerpt(*line, source_line))]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The text of the offending line, shown under the message.
    pub source_line: Option<String>,
}

fn location(file: &Path, line: usize, column: usize) -> String {
    match line {
        0 => file.display().to_string(),
        _ => format!("{}:{line}:{column}", file.display()),
    }
}

fn excerpt(line: usize, text: &Option<String>) -> String {
    match text {
        Some(t) => format!("\n  {line:>4} | {t}"),
        None => String::new(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this came from; none for the embedded default.
    pub file: Option<PathBuf>,
    /// Default: `var/lib/nethook` under the host root.
    pub state_dir: PathBuf,
    /// Pulled components (`<cache_dir>/oci`): written by `nethook pull`,
    /// checked against their pinned digests whenever they are used.
    pub cache_dir: PathBuf,
    /// Native code compiled from components; default `<cache_dir>/compiled`.
    /// Only a process that may run it should be able to write here (docs/failure-and-recovery.md,
    /// "Trust in files on disk").
    pub compiled: Option<PathBuf>,
    /// Of legacy scripts, unless their point says otherwise.
    pub script_timeout: Duration,
    /// Uplinks used when the command line names none.
    pub uplinks: Vec<IfName>,
    /// The node hooks act on: its root and how commands reach it.
    pub node: Node,
    /// `[builtin]`: the built-in module's options.
    pub builtin: crate::builtin::settings::Settings,
    /// `[points.<point>]` of the dataplane's points, where set: each
    /// resolved, its hooks included.
    pub points: BTreeMap<DataplanePoint, PointSpec>,
    pub hooks: BTreeMap<String, HookConfig>,
    /// `[points.<event point>]`: what `nethook watch` runs, and for which links.
    pub events: BTreeMap<EventPoint, EventSpec>,
    /// `[watch]`: how `nethook watch` turns netlink messages into events.
    pub watch: crate::watch::settings::Settings,
    /// `[registries]`: how `oci://` components are fetched.
    pub registries: crate::oci::RegistrySettings,
    /// `[metrics]`: watch's endpoint, the one-shot runs' textfile.
    pub metrics: crate::metrics::settings::Settings,
}

/// An event point's handler and the links it fires for.
#[derive(Debug, Clone, PartialEq)]
pub struct EventSpec {
    pub handler: Handler,
    pub filter: crate::watch::settings::Filter,
}

impl Default for Config {
    /// The embedded default: the built-in module at every point.
    fn default() -> Self {
        Config {
            file: None,
            state_dir: Path::new(DEFAULT_HOST_ROOT).join(DEFAULT_STATE_DIR),
            cache_dir: DEFAULT_CACHE_DIR.into(),
            compiled: None,
            script_timeout: crate::spec::DEFAULT_SCRIPT_TIMEOUT,
            uplinks: Vec::new(),
            node: default_node(),
            builtin: Default::default(),
            points: BTreeMap::new(),
            hooks: BTreeMap::new(),
            events: BTreeMap::new(),
            watch: Default::default(),
            registries: Default::default(),
            metrics: Default::default(),
        }
    }
}

fn default_node() -> Node {
    Node {
        root: DEFAULT_HOST_ROOT.into(),
        exec: ExecMode::Chroot,
        command_timeout: DEFAULT_COMMAND_TIMEOUT,
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            source_line: None,
        })?;
        Config::parse(path, &text)
    }

    /// Parse `text` as if read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let locate = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| line_col(text, s.start));
            ConfigError {
                file: path.to_path_buf(),
                line,
                column,
                message,
                source_line: text.lines().nth(line - 1).map(|l| l.trim_end().to_string()),
            }
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| locate(e.span(), e.message().to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        raw.resolve(base)
            .map_err(|(span, message)| locate(Some(span), message))
            .map(|mut c| {
                c.file = Some(path.to_path_buf());
                c
            })
    }

    /// Where compiled components are stored.
    pub fn compiled_dir(&self) -> PathBuf {
        self.compiled
            .clone()
            .unwrap_or_else(|| self.cache_dir.join("compiled"))
    }

    /// This config with `hook` in place of the hook of its name, wherever
    /// a point runs it too (a fetched component replaces a reference).
    pub fn with_hook(mut self, hook: HookConfig) -> Config {
        let specs = self.points.values_mut().flat_map(|s| s.hooks_mut());
        let events = self
            .events
            .values_mut()
            .filter_map(|e| match &mut e.handler {
                Handler::Wasm(h) => Some(h.as_mut()),
                _ => None,
            });
        for h in specs.chain(events).filter(|h| h.name == hook.name) {
            let timeout = h.timeout;
            *h = hook.clone();
            // A chain step's deadline stays the step's.
            h.timeout = timeout;
        }
        self.hooks.insert(hook.name.clone(), hook);
        self
    }

    pub fn source(&self) -> String {
        match &self.file {
            Some(f) => f.display().to_string(),
            None => "the embedded default".into(),
        }
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

type Located<T> = Result<T, (Range<usize>, String)>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    compiled_dir: Option<PathBuf>,
    #[serde(default)]
    uplinks: Vec<Spanned<String>>,
    host_root: Option<PathBuf>,
    host_exec: Option<Spanned<HostExec>>,
    host_pid: Option<Spanned<u32>>,
    #[serde(default, deserialize_with = "duration")]
    command_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    script_timeout: Option<Duration>,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    builtin: crate::builtin::settings::Settings,
    #[serde(default)]
    points: RawPoints,
    #[serde(default)]
    hooks: BTreeMap<Spanned<String>, RawHook>,
    #[serde(default)]
    watch: crate::watch::settings::Settings,
    #[serde(default)]
    registries: RawRegistries,
    #[serde(default)]
    metrics: crate::metrics::settings::Settings,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRegistries {
    auth: Option<PathBuf>,
    #[serde(default)]
    insecure: Vec<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHookVerify {
    key: PathBuf,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "memory")]
    memory: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPoints {
    before_if_read: Option<Spanned<RawPoint>>,
    before_vpp_run: Option<Spanned<RawPoint>>,
    vpp_running: Option<Spanned<RawPoint>>,
    vpp_done_ok: Option<Spanned<RawPoint>>,
    vpp_errored: Option<Spanned<RawPoint>>,
    link_added: Option<Spanned<RawPoint>>,
    link_removed: Option<Spanned<RawPoint>>,
    link_down: Option<Spanned<RawPoint>>,
    link_up: Option<Spanned<RawPoint>>,
    address_lost: Option<Spanned<RawPoint>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum HostExec {
    Chroot,
    Nsenter,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "kebab-case")]
enum HandlerKind {
    Builtin,
    Wasm,
    Script,
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoint {
    /// One handler, or `handlers`: a chain.
    handler: Option<Spanned<HandlerKind>>,
    handlers: Option<Spanned<Vec<Spanned<RawStep>>>>,
    hook: Option<Spanned<String>>,
    script: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
    on_failure: Option<OnFailure>,
    verify: Option<Spanned<toml::Value>>,
    /// Event points only: link name globs, rtnetlink kinds, udev drivers.
    links: Option<Spanned<Vec<String>>>,
    kinds: Option<Spanned<Vec<String>>>,
    drivers: Option<Spanned<Vec<String>>>,
}

/// One `[[points.<point>.handlers]]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    handler: Spanned<HandlerKind>,
    hook: Option<Spanned<String>>,
    script: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
    #[serde(default = "yes")]
    required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    component: Spanned<PathBuf>,
    sha256: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "memory")]
    memory: Option<u64>,
    #[serde(default)]
    config: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    grants: Grants,
    on_failure: Option<OnFailure>,
    verify: Option<Spanned<RawHookVerify>>,
}

impl RawConfig {
    fn resolve(self, base: &Path) -> Located<Config> {
        let timeout = self.defaults.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let memory = self.defaults.memory.unwrap_or(DEFAULT_MEMORY);
        let script_timeout = self
            .script_timeout
            .unwrap_or(crate::spec::DEFAULT_SCRIPT_TIMEOUT);

        let cache_dir = self
            .cache_dir
            .clone()
            .unwrap_or_else(|| DEFAULT_CACHE_DIR.into());
        let registries = self.registries.resolve(base)?;
        let mut hooks = BTreeMap::new();
        for (name, raw) in self.hooks {
            let span = name.span();
            let name = name.into_inner();
            check_hook_name(&name).map_err(|m| (span, m))?;
            let hook = raw.resolve(name.clone(), base, &cache_dir, timeout, memory)?;
            hooks.insert(name, hook);
        }

        let mut uplinks = Vec::new();
        for u in self.uplinks {
            let span = u.span();
            let name = IfName::parse(u.get_ref()).map_err(|m| (span, format!("uplinks: {m}")))?;
            uplinks.push(name);
        }

        let mut points = BTreeMap::new();
        let p = self.points;
        let mut events = BTreeMap::new();
        for (point, raw) in [
            (EventPoint::LinkAdded, p.link_added),
            (EventPoint::LinkRemoved, p.link_removed),
            (EventPoint::LinkDown, p.link_down),
            (EventPoint::LinkUp, p.link_up),
            (EventPoint::AddressLost, p.address_lost),
        ] {
            if let Some(raw) = raw {
                events.insert(
                    point,
                    RawPoint::resolve_event(raw, point, &hooks, script_timeout)?,
                );
            }
        }
        for (point, raw) in [
            (DataplanePoint::BeforeIfRead, p.before_if_read),
            (DataplanePoint::BeforeVppRun, p.before_vpp_run),
            (DataplanePoint::VppRunning, p.vpp_running),
            (DataplanePoint::VppDoneOk, p.vpp_done_ok),
            (DataplanePoint::VppErrored, p.vpp_errored),
        ] {
            if let Some(raw) = raw {
                let span = raw.span();
                for (key, value) in [
                    ("links", &raw.get_ref().links),
                    ("kinds", &raw.get_ref().kinds),
                    ("drivers", &raw.get_ref().drivers),
                ] {
                    if let Some(v) = value {
                        return Err((
                            v.span(),
                            format!("[points.{point}]: key `{key}` is a filter of the event points (link-added, ...), not of a dataplane point"),
                        ));
                    }
                }
                let on_failure = raw.get_ref().on_failure;
                let verify = match &raw.get_ref().verify {
                    Some(v) => Some(parse_verify(point, v)?),
                    None => None,
                };
                let (steps, chain) =
                    raw.into_inner()
                        .resolve(point, span, &hooks, script_timeout)?;
                // The point's own setting, else its single hook's.
                let on_failure = on_failure
                    .or(match (chain, steps.as_slice()) {
                        (
                            false,
                            [Step {
                                handler: Handler::Wasm(h),
                                ..
                            }],
                        ) => h.on_failure,
                        _ => None,
                    })
                    .unwrap_or_default();
                points.insert(
                    point,
                    PointSpec {
                        steps,
                        chain,
                        on_failure,
                        verify,
                    },
                );
            }
        }

        let exec = match (self.host_exec.as_ref().map(|e| *e.get_ref()), self.host_pid) {
            (Some(HostExec::Nsenter), pid) => ExecMode::Nsenter {
                pid: pid.map_or(1, |p| p.into_inner()),
            },
            (_, Some(pid)) => {
                return Err((
                    pid.span(),
                    "host_pid applies only with host_exec = \"nsenter\"".into(),
                ))
            }
            _ => ExecMode::Chroot,
        };
        let node = Node {
            root: self.host_root.unwrap_or_else(|| DEFAULT_HOST_ROOT.into()),
            exec,
            command_timeout: self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
        };
        let state_dir = self
            .state_dir
            .unwrap_or_else(|| node.root.join(DEFAULT_STATE_DIR));

        Ok(Config {
            file: None,
            state_dir,
            script_timeout,
            cache_dir,
            compiled: self.compiled_dir,
            uplinks,
            node,
            builtin: self.builtin,
            points,
            hooks,
            events,
            watch: self.watch,
            registries,
            metrics: self.metrics,
        })
    }
}

impl RawRegistries {
    fn resolve(self, base: &Path) -> Located<crate::oci::RegistrySettings> {
        let mut insecure = Vec::new();
        for i in self.insecure {
            let text = i.get_ref();
            if text.is_empty() || text.contains('/') || text.contains('@') {
                return Err((
                    i.span(),
                    format!("[registries] insecure: {text:?} must be host[:port], as in oci://host[:port]/..."),
                ));
            }
            insecure.push(i.into_inner());
        }
        Ok(crate::oci::RegistrySettings {
            auth: self.auth.map(|a| base.join(a)),
            insecure,
            timeout: self.timeout.unwrap_or(crate::oci::DEFAULT_FETCH_TIMEOUT),
        })
    }
}

impl RawPoint {
    /// An event point: a handler that is not the built-in module, and its
    /// filters.
    fn resolve_event(
        this: Spanned<RawPoint>,
        point: EventPoint,
        hooks: &BTreeMap<String, HookConfig>,
        default_timeout: Duration,
    ) -> Located<EventSpec> {
        let span = this.span();
        let table = format!("[points.{point}]");
        let raw = this.into_inner();
        if let Some(h) = &raw.handlers {
            return Err((
                h.span(),
                format!("{table}: a chain of handlers runs at the dataplane's points only; an event point has one handler"),
            ));
        }
        let Some(kind) = &raw.handler else {
            return Err((span, format!("{table}: missing `handler`")));
        };
        if *kind.get_ref() == HandlerKind::Builtin {
            return Err((
                kind.span(),
                format!("{table}: the built-in module has no action at an event point; choose \"wasm\", \"script\" or \"none\""),
            ));
        }
        for (key, set) in [
            ("verify", raw.verify.as_ref().map(Spanned::span)),
            ("on_failure", raw.on_failure.map(|_| span.clone())),
        ] {
            if let Some(s) = set {
                return Err((s, format!("{table}: key `{key}` applies only at the dataplane's points; an event's hook is rolled back when it fails and retried as [watch] retry says")));
            }
        }
        let mut filter = crate::watch::settings::Filter::default();
        if let Some(links) = &raw.links {
            for l in links.get_ref() {
                let glob = crate::caps::grants::Glob::new(l)
                    .map_err(|m| (links.span(), format!("{table} links: {m}")))?;
                filter.links.push(glob);
            }
        }
        if let Some(kinds) = &raw.kinds {
            filter.kinds = kinds.get_ref().clone();
        }
        if let Some(drivers) = &raw.drivers {
            filter.drivers = drivers.get_ref().clone();
        }
        let handler = resolve_handler(
            &table,
            *kind.get_ref(),
            raw.hook,
            raw.script,
            raw.timeout,
            span,
            hooks,
            default_timeout,
        )?;
        Ok(EventSpec { handler, filter })
    }
}

/// `verify = "auto"`, or a `[points.<point>.verify]` table.
fn parse_verify(point: DataplanePoint, v: &Spanned<toml::Value>) -> Located<Verify> {
    let table = format!("[points.{point}.verify]");
    let err = |m: String| (v.span(), format!("{table}: {m}"));
    let checks: crate::verify::Checks = match v.get_ref() {
        toml::Value::String(s) if s == "auto" => crate::verify::Checks {
            auto: true,
            ..Default::default()
        },
        toml::Value::String(s) => {
            return Err(err(format!(
                "{s:?}: write verify = \"auto\" or a table of checks"
            )))
        }
        other => other
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| err(e.message().to_string()))?,
    };
    Ok(Verify {
        checks: checks.parse().map_err(err)?,
        auto: checks.auto,
        timeout: checks.timeout.unwrap_or(crate::verify::DEFAULT_TIMEOUT),
    })
}

impl RawPoint {
    /// A dataplane point's handlers, and whether they were given as a chain.
    fn resolve(
        self,
        point: DataplanePoint,
        span: Range<usize>,
        hooks: &BTreeMap<String, HookConfig>,
        default_timeout: Duration,
    ) -> Located<(Vec<Step>, bool)> {
        let table = format!("[points.{point}]");
        let (kind, steps) = match (self.handler, self.handlers) {
            (Some(_), Some(h)) => {
                return Err((
                    h.span(),
                    format!(
                        "{table}: give either `handler` or [[points.{point}.handlers]], not both"
                    ),
                ))
            }
            (None, None) => {
                return Err((
                    span,
                    format!("{table}: missing `handler` (or [[points.{point}.handlers]], a chain)"),
                ))
            }
            (Some(kind), None) => (kind, None),
            (None, Some(steps)) => (Spanned::new(span.clone(), HandlerKind::None), Some(steps)),
        };
        let Some(steps) = steps else {
            let handler = resolve_handler(
                &table,
                *kind.get_ref(),
                self.hook,
                self.script,
                self.timeout,
                span,
                hooks,
                default_timeout,
            )?;
            return Ok((
                vec![Step {
                    handler,
                    required: true,
                    timeout: DEFAULT_TIMEOUT,
                }],
                false,
            ));
        };
        for (key, value) in [
            ("hook", self.hook.map(|h| h.span())),
            ("script", self.script.map(|s| s.span())),
        ] {
            if let Some(s) = value {
                return Err((
                    s,
                    format!(
                        "{table}: key `{key}` belongs in each [[points.{point}.handlers]] entry"
                    ),
                ));
            }
        }
        if self.timeout.is_some() {
            return Err((
                span,
                format!("{table}: key `timeout` belongs in each [[points.{point}.handlers]] entry"),
            ));
        }
        let chain_span = steps.span();
        let steps = steps.into_inner();
        if steps.is_empty() {
            return Err((chain_span, format!("{table}: `handlers` is empty")));
        }
        let mut chain = Vec::new();
        for (i, step) in steps.into_iter().enumerate() {
            let span = step.span();
            let step = step.into_inner();
            let table = format!("[[points.{point}.handlers]] #{}", i + 1);
            let kind = *step.handler.get_ref();
            // A wasm hook's or the built-in module's deadline is the
            // step's own; a script's is its handler's.
            let (timeout, script_timeout) = match kind {
                HandlerKind::Script => (None, step.timeout),
                HandlerKind::None if step.timeout.is_some() => {
                    return Err((
                        span,
                        format!("{table}: key `timeout` does not apply to this handler"),
                    ))
                }
                _ => (step.timeout, None),
            };
            let mut handler = resolve_handler(
                &table,
                kind,
                step.hook,
                step.script,
                script_timeout,
                span,
                hooks,
                default_timeout,
            )?;
            // A step's timeout is its hook's deadline in this chain.
            if let (Handler::Wasm(h), Some(t)) = (&mut handler, timeout) {
                h.timeout = t;
            }
            chain.push(Step {
                handler,
                required: step.required,
                timeout: timeout.unwrap_or(DEFAULT_TIMEOUT),
            });
        }
        Ok((chain, true))
    }
}

/// One handler, from its keys; `table` names where they are.
#[allow(clippy::too_many_arguments)]
fn resolve_handler(
    table: &str,
    kind: HandlerKind,
    hook: Option<Spanned<String>>,
    script: Option<Spanned<String>>,
    timeout: Option<Duration>,
    span: Range<usize>,
    hooks: &BTreeMap<String, HookConfig>,
    default_timeout: Duration,
) -> Located<Handler> {
    let stray = |key: &str, value: Option<Range<usize>>| match value {
        Some(s) => Err((
            s,
            format!("{table}: key `{key}` does not apply to this handler"),
        )),
        None => Ok(()),
    };
    match kind {
        HandlerKind::Builtin | HandlerKind::None => {
            stray("hook", hook.as_ref().map(Spanned::span))?;
            stray("script", script.as_ref().map(Spanned::span))?;
            if timeout.is_some() {
                return Err((
                    span,
                    format!("{table}: key `timeout` does not apply to this handler"),
                ));
            }
            Ok(if kind == HandlerKind::Builtin {
                Handler::Builtin
            } else {
                Handler::None
            })
        }
        HandlerKind::Wasm => {
            stray("script", script.as_ref().map(Spanned::span))?;
            if timeout.is_some() {
                return Err((
                    span,
                    format!(
                        "{table}: set `timeout` on the hook in [hooks.<name>], not on the point"
                    ),
                ));
            }
            let hook = hook
                    .ok_or_else(|| (span.clone(), format!("{table}: handler \"wasm\" needs `hook = \"<name>\"` naming a [hooks.<name>] table")))?;
            if !hooks.contains_key(hook.get_ref()) {
                let known: Vec<&str> = hooks.keys().map(String::as_str).collect();
                return Err((
                    hook.span(),
                    format!(
                        "{table}: no hook named {:?} (defined: {})",
                        hook.get_ref(),
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
            // Resolved here: a point never names a hook that is not there.
            Ok(Handler::Wasm(Box::new(hooks[hook.get_ref()].clone())))
        }
        HandlerKind::Script => {
            stray("hook", hook.as_ref().map(Spanned::span))?;
            let script = script.ok_or_else(|| {
                (
                    span.clone(),
                    format!("{table}: handler \"script\" needs `script = \"<shell command>\"`"),
                )
            })?;
            if script.get_ref().trim().is_empty() {
                return Err((script.span(), format!("{table}: `script` is empty")));
            }
            Ok(Handler::Script {
                script: script.into_inner(),
                timeout: timeout.unwrap_or(default_timeout),
            })
        }
    }
}

impl RawHook {
    fn resolve(
        self,
        name: String,
        base: &Path,
        cache_dir: &Path,
        timeout: Duration,
        memory: u64,
    ) -> Located<HookConfig> {
        let sha256 = match self.sha256 {
            None => None,
            Some(s) => Some(
                parse_sha256(s.get_ref())
                    .map_err(|m| (s.span(), format!("[hooks.{name}] sha256: {m}")))?,
            ),
        };
        let mut config = Vec::new();
        for (key, value) in self.config {
            let span = value.span();
            let text = match value.into_inner() {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err((
                        span,
                        format!(
                            "[hooks.{name}.config] {key}: values must be strings, numbers or booleans, not {}",
                            other.type_str()
                        ),
                    ))
                }
            };
            config.push((key, text));
        }
        let (span, component) = (self.component.span(), self.component.into_inner());
        let (source, component) = match component.to_str().filter(|c| c.starts_with("oci://")) {
            Some(text) => {
                let reference = crate::oci::OciRef::parse(text)
                    .map_err(|e| (span.clone(), format!("[hooks.{name}] component: {e}")))?;
                if reference.digest().is_none() && sha256.is_none() {
                    return Err((
                        span,
                        format!("[hooks.{name}] component: {reference} names a tag, and a tag moves: pin it by digest (@sha256:…) or give sha256"),
                    ));
                }
                // Where the blob will be in the cache once fetched; only the
                // component's own digest names it.
                let cached = match sha256 {
                    Some(pin) => cache_dir.join("oci/blobs/sha256").join(hex::encode(pin)),
                    None => cache_dir.join("oci/unresolved").join(&name),
                };
                (HookSource::Oci(reference), cached)
            }
            None => {
                let path = if component.is_absolute() {
                    component
                } else {
                    base.join(component)
                };
                (HookSource::File(path.clone()), path)
            }
        };
        let verify_key = match self.verify {
            None => None,
            Some(v) if matches!(source, HookSource::File(_)) => {
                return Err((
                    v.span(),
                    format!("[hooks.{name}.verify]: signatures are checked on oci:// components; a file is pinned with sha256"),
                ))
            }
            Some(v) => Some(base.join(v.into_inner().key)),
        };
        Ok(HookConfig {
            component,
            source,
            verify_key,
            fetched: None,
            name,
            sha256,
            timeout: self.timeout.unwrap_or(timeout),
            memory: self.memory.unwrap_or(memory),
            config,
            grants: self.grants,
            on_failure: self.on_failure,
        })
    }
}

/// Hook names key the state store, the journal and log lines.
pub fn check_hook_name(name: &str) -> Result<(), String> {
    HookName::parse(name).map(drop).map_err(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/nethook/n.toml"), text)
    }

    #[test]
    fn the_example_config_is_valid() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/nethook.toml"
        ));
        let c = Config::load(path).unwrap();
        assert_eq!(c.points.len(), 4);
        let spec = &c.points[&DataplanePoint::BeforeIfRead];
        assert!(!spec.chain);
        assert_eq!(spec.hooks(), ["inventory"]);
        let h = &c.hooks["inventory"];
        assert_eq!((h.timeout, h.memory), (Duration::from_secs(5), 32 << 20));
        assert_eq!(h.config, vec![("label".to_string(), "example".to_string())]);
        assert_eq!(c.uplinks, vec![IfName::parse("eth0").unwrap()]);
    }

    #[test]
    fn hooks_inherit_defaults_and_resolve_paths_against_the_file() {
        let c = parse(
            "[defaults]\ntimeout = 7\nmemory = \"2MiB\"\n[hooks.h]\ncomponent = \"h.wasm\"\n[hooks.h.config]\nn = 3\nb = true\n",
        )
        .unwrap();
        let h = &c.hooks["h"];
        assert_eq!(h.component, Path::new("/etc/nethook/h.wasm"));
        assert_eq!((h.timeout, h.memory), (Duration::from_secs(7), 2 << 20));
        assert_eq!(
            h.config,
            vec![("b".into(), "true".into()), ("n".into(), "3".into())]
        );
        assert_eq!(c.state_dir, Path::new("/host/var/lib/nethook"));
        let c = parse("host_root = \"/\"\n").unwrap();
        assert_eq!(c.state_dir, Path::new("/var/lib/nethook"));
        assert_eq!(c.script_timeout, crate::spec::DEFAULT_SCRIPT_TIMEOUT);
    }

    #[test]
    fn errors_point_at_the_offending_value() {
        let e = parse("[hooks.h]\ncomponent = \"h.wasm\"\nmemory = 1000\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 10));
        assert_eq!(
            e.message,
            "memory must be at least 1MiB: a Rust guest needs that to start"
        );
        let e = parse("[hooks.Bad]\ncomponent = \"h.wasm\"\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 8));
        assert!(e.message.starts_with("hook name \"Bad\" must be"), "{e}");
        let e = parse("[points.vpp-running]\nhandler = \"builtin\"\nscript = \"x\"\n").unwrap_err();
        assert_eq!(
            e.message,
            "[points.vpp-running]: key `script` does not apply to this handler"
        );
        let e = parse("[points.vpp-running]\nhandler = \"script\"\n").unwrap_err();
        assert_eq!(
            e.message,
            "[points.vpp-running]: handler \"script\" needs `script = \"<shell command>\"`"
        );
        let e = parse("uplinks = [\"a/b\"]\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 12));
        // A name that would fail at every netlink call is refused here.
        let e = parse("uplinks = [\"-x\"]\n").unwrap_err();
        assert!(
            e.message
                .starts_with("uplinks: \"-x\" is not a valid interface name"),
            "{e}"
        );
        let e =
            parse("[hooks.h]\ncomponent = \"h.wasm\"\n[hooks.h.config]\nx = [1]\n").unwrap_err();
        assert_eq!(
            e.message,
            "[hooks.h.config] x: values must be strings, numbers or booleans, not array"
        );
    }

    #[test]
    fn an_oci_component_points_into_the_cache() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let c = parse(&format!(
            "cache_dir = \"/c\"\n[registries]\nauth = \"auth.json\"\ninsecure = [\"reg:5000\"]\n[hooks.a]\ncomponent = \"oci://reg:5000/v/a@{digest}\"\n[hooks.a.verify]\nkey = \"k.pub\"\n[hooks.b]\ncomponent = \"oci://reg:5000/v/b:1\"\nsha256 = \"{}\"\n",
            "cd".repeat(32)
        ))
        .unwrap();
        let a = &c.hooks["a"];
        assert_eq!(
            a.source,
            HookSource::Oci(
                crate::oci::OciRef::parse(&format!("oci://reg:5000/v/a@{digest}")).unwrap()
            )
        );
        assert_eq!(
            a.verify_key.as_deref(),
            Some(Path::new("/etc/nethook/k.pub"))
        );
        assert_eq!(a.component, Path::new("/c/oci/unresolved/a"));
        let b = &c.hooks["b"];
        assert_eq!(
            b.component,
            Path::new("/c/oci/blobs/sha256").join("cd".repeat(32))
        );
        assert_eq!(
            c.registries,
            crate::oci::RegistrySettings {
                auth: Some("/etc/nethook/auth.json".into()),
                insecure: vec!["reg:5000".into()],
                timeout: crate::oci::DEFAULT_FETCH_TIMEOUT,
            }
        );
        let e = parse("[registries]\ninsecure = [\"http://reg\"]\n").unwrap_err();
        assert_eq!(
            e.message,
            "[registries] insecure: \"http://reg\" must be host[:port], as in oci://host[:port]/..."
        );
    }

    #[test]
    fn the_node_settings_are_checked() {
        let c = parse("host_root = \"/\"\nhost_exec = \"nsenter\"\nhost_pid = 4242\ncommand_timeout = \"5s\"\n").unwrap();
        assert_eq!(c.node.exec, ExecMode::Nsenter { pid: 4242 });
        assert_eq!(
            (c.node.root.as_path(), c.node.command_timeout),
            (Path::new("/"), Duration::from_secs(5))
        );
        assert_eq!(Config::default().node.root, Path::new("/host"));
        let e = parse("host_pid = 7\n").unwrap_err();
        assert_eq!(
            (e.line, e.message.as_str()),
            (1, "host_pid applies only with host_exec = \"nsenter\"")
        );
        let e = parse("[hooks.h]\ncomponent = \"h.wasm\"\n[hooks.h.grants]\nunits = [\"[\"]\n")
            .unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.message.starts_with("bad pattern \"[\""), "{e}");
        let e = parse("[hooks.h]\ncomponent = \"h.wasm\"\n[hooks.h.grants]\nnetlink = \"all\"\n")
            .unwrap_err();
        assert!(e.message.starts_with("unknown variant `all`"), "{e}");
    }
}
