//! Running the handler selected for a hook point.

use std::fmt;
use std::time::{Duration, Instant};

use crate::bindings::{Context, Uplink, WitPoint};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::caps::journal::{Journal, Txn, TxnState};
use crate::caps::{Audit, Caller, Effect, Grants, Host, Mode, Session};
use crate::config::Config;
use crate::config::OnFailure;
use crate::error::{Error, Result};
use crate::names::IfName;
use crate::point::HookPoint;
use crate::select::{self, CliHandler, Environment, Handler, Selection};
use crate::verify::Check;
use crate::wasm::{CacheOutcome, Loaded, Runtime};
use crate::{builtin, script};

/// Everything a run is decided from.
pub struct Options {
    pub config: Config,
    pub cli: Vec<CliHandler>,
    pub env: Environment,
    /// Uplinks from the command line (`--uplink`).
    pub uplinks: Vec<IfName>,
    /// The dataplane's `$1`, its first uplink (`nethook hook POINT UPLINK0`).
    pub uplink_arg: Option<IfName>,
    pub mode: Mode,
    pub audit: Audit,
}

/// Where the uplinks came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkSource {
    Cli,
    Config(String),
    /// The dataplane's variables that named them.
    Env(Vec<&'static str>),
    /// The dataplane's `$1`.
    Arg,
    None,
}

impl fmt::Display for UplinkSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UplinkSource::Cli => f.write_str("command line --uplink"),
            UplinkSource::Config(file) => write!(f, "config {file}"),
            UplinkSource::Env(vars) => write!(f, "environment {}", vars.join(" then ")),
            UplinkSource::Arg => f.write_str("the dataplane's $1"),
            UplinkSource::None => f.write_str("nowhere"),
        }
    }
}

/// The uplinks of a run, in the dataplane's order, and their source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplinks {
    pub names: Vec<IfName>,
    pub source: UplinkSource,
}

impl fmt::Display for Uplinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names.is_empty() {
            true => f.write_str("none"),
            false => {
                let names: Vec<&str> = self.names.iter().map(|n| n.as_ref()).collect();
                write!(f, "{} (from {})", names.join(", "), self.source)
            }
        }
    }
}

/// Warned about at before-if-read and in `check`: nothing can be captured.
pub const NO_UPLINKS: &str = "no uplinks: nothing is captured at before-if-read and no udev rule \
is written; name them in CALICOVPP_INTERFACES, `uplinks` in the config or --uplink";

/// What happened at one point.
#[derive(Debug)]
pub struct Outcome {
    pub selection: Selection,
    pub elapsed: Duration,
    pub result: Result<()>,
    /// What the handler changed, or would change in plan mode, in order.
    pub effects: Vec<Effect>,
    /// What the handler found, e.g. the built-in module's detection.
    pub detail: Option<String>,
    /// The checks verification ran (or, in plan mode, would run).
    pub checks: Vec<String>,
    /// A chain's handlers, each with what it did; empty for one handler.
    pub steps: Vec<StepOutcome>,
    /// Two handlers of the chain that changed the same object.
    pub conflicts: Vec<String>,
}

impl Options {
    /// The first source that names any: the command line, the config, the
    /// dataplane's variables, then its `$1`.
    pub fn uplinks(&self) -> Uplinks {
        let (names, source) = if !self.uplinks.is_empty() {
            (self.uplinks.clone(), UplinkSource::Cli)
        } else if !self.config.uplinks.is_empty() {
            (
                self.config.uplinks.clone(),
                UplinkSource::Config(self.config.source()),
            )
        } else if !self.env.uplinks.is_empty() {
            (
                self.env.uplinks.clone(),
                UplinkSource::Env(self.env.uplink_vars.clone()),
            )
        } else if let Some(arg) = &self.uplink_arg {
            (vec![arg.clone()], UplinkSource::Arg)
        } else {
            (Vec::new(), UplinkSource::None)
        };
        Uplinks { names, source }
    }

    /// What the hooks of one run share, in `mode`, with a fresh effect list.
    fn session(&self, mode: Mode) -> Session {
        Session {
            state_dir: self.config.state_dir.clone(),
            node: self.config.node.clone(),
            mode,
            audit: self.audit.clone(),
            effects: Default::default(),
            txn: None,
            state: None,
        }
    }

    /// The grants a hook named `hook` has under this config: what undoing
    /// its journaled changes is checked against.
    fn grants_of(&self, hook: &str) -> Grants {
        match hook {
            builtin::HOOK_NAME => self.builtin_grants(),
            name => self
                .config
                .hooks
                .get(name)
                .map(|h| h.grants.clone())
                .unwrap_or_default(),
        }
    }

    /// Capabilities for `hook` at `point`, with a deadline.
    fn host(
        &self,
        session: &Session,
        hook: &str,
        point: HookPoint,
        grants: Grants,
        timeout: Duration,
    ) -> Host {
        let mut host = Host::new(caller(hook, point), grants, session.clone());
        host.set_deadline(timeout);
        host
    }

    /// nethook's own capabilities at `point` (reads: uplinks, udev records),
    /// audited as hook `nethook`.
    fn own(&self, point: HookPoint) -> Host {
        let session = self.session(Mode::Apply);
        self.host(
            &session,
            "nethook",
            point,
            Grants::verifier(),
            crate::config::DEFAULT_TIMEOUT,
        )
    }

    /// Capabilities for undoing what `hook` journaled at `point`, checked
    /// against the grants it has.
    fn undoer(&self, hook: &str, point: HookPoint) -> Host {
        let grants = self.grants_of(hook);
        let session = self.session(Mode::Apply);
        self.host(
            &session,
            hook,
            point,
            grants,
            crate::config::DEFAULT_TIMEOUT,
        )
    }

    /// `[builtin]`, with the dataplane's knobs applied:
    /// `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` selects what the
    /// dataplane then runs itself (its default_hook.sh): `dns=none` edited
    /// into NetworkManager.conf, the network service restarted at every undo.
    pub fn builtin_grants(&self) -> Grants {
        match self.builtin_settings().restore_l3 {
            true => Grants::builtin_restoring_l3(),
            false => Grants::builtin(),
        }
    }

    pub fn builtin_settings(&self) -> builtin::Settings {
        let mut s = self.config.builtin.clone();
        if let Some(v) = self.env.udev_net_name_rules {
            s.udev_net_name_rules = v;
        }
        if !self.env.builtin_enabled {
            s.dataplane_compatible();
        }
        s
    }

    pub fn select(&self, point: HookPoint) -> Result<Selection> {
        select::select(point, &self.cli, &self.env, &self.config)
    }
}

const NOT_A_POINT_HOOK: &str =
    "exports no nethook:hooks/guest: it is an event hook, for `nethook watch`'s event points only";

/// Run the handler selected for `point`. Selection errors (a bad flag or
/// variable) are returned before anything runs.
pub fn run_point(opts: &Options, point: HookPoint) -> Result<Outcome> {
    if let Some(parent) = &opts.env.parent {
        return Err(Error::Nested(parent.clone()));
    }
    if point.is_event() {
        return Err(Error::EventPoint(point));
    }
    let selection = opts.select(point)?;
    let uplinks = opts.uplinks();
    tracing::info!(%point, handler = %selection.handler, reason = %selection.reason, %uplinks, "running");
    if let (Some(arg), Some(first)) = (&opts.uplink_arg, uplinks.names.first()) {
        if arg != first {
            let (arg, first): (&str, &str) = (arg, first);
            tracing::warn!(%point, "the dataplane's $1 is {arg:?} but the first uplink is {first:?} (from {})", uplinks.source);
        }
    }
    if uplinks.names.is_empty() && point == HookPoint::BeforeIfRead {
        tracing::warn!(%point, "{NO_UPLINKS}");
    }
    let steps = selection.handler.steps();
    let chained = matches!(selection.handler, Handler::Chain(_));
    let started = Instant::now();
    // A component that cannot run is refused before anything is touched.
    let mut runtime: Option<Runtime> = None;
    let mut prepared = Vec::new();
    for step in &steps {
        prepared.push(match &step.handler {
            Handler::Wasm(hook) => {
                let rt = match &mut runtime {
                    Some(rt) => rt,
                    none => none.insert(Runtime::new(&opts.config.compiled_dir())?),
                };
                let loaded = rt.load(hook)?;
                if !loaded.is_hook() {
                    return Err(Error::component(&hook.component, NOT_A_POINT_HOOK));
                }
                Some(loaded)
            }
            _ => None,
        });
    }
    // A point is a transaction: journaled, committed, or rolled back.
    let journal = match opts.mode {
        Mode::Apply => Some(open_journal(opts)?),
        Mode::Plan => None,
    };
    let _lock = match &journal {
        Some(j) => Some(j.lock().map_err(|e| Error::Other(e.to_string()))?),
        None => None,
    };
    if let Some(j) = &journal {
        for r in recover_with(opts, j)? {
            tracing::warn!(%point, "{r}");
        }
    }
    let configured = opts.config.verify.get(&point);
    let mut checks: Vec<Check> = configured.map(|v| v.checks.clone()).unwrap_or_default();
    let timeout = configured.map_or(crate::verify::DEFAULT_TIMEOUT, |v| v.timeout);
    let mut verifier = opts.host(
        &opts.session(opts.mode),
        "verify",
        point,
        Grants::verifier(),
        Duration::from_secs(3600),
    );
    if configured.is_some_and(|v| v.auto) {
        let picked = crate::verify::auto_checks(&mut verifier, &uplinks.names);
        tracing::info!(%point, checks = %join(&picked), "verify = auto: these hold now and must after");
        checks.extend(picked);
    }
    let mut chain = Chain::default();
    let mut failed = None;
    let mut details = Vec::new();
    for (step, loaded) in steps.iter().zip(prepared) {
        let name = step.handler.hook_name().to_string();
        let mut session = opts.session(opts.mode);
        if let Some(j) = &journal {
            let txn = j
                .begin(point.name(), &name)
                .map_err(|e| Error::Other(e.to_string()))?;
            session.txn = Some(Arc::new(Mutex::new(txn)));
            session.state = Some(Default::default());
        }
        let prepared = loaded.map(|l| (runtime.as_ref().expect("made with the load"), l));
        let result = dispatch(opts, &session, point, step, &uplinks.names, prepared);
        let effects = std::mem::take(&mut *session.effects.lock().expect("effects lock"));
        chain.touched(&name, &effects);
        let pending = Pending {
            txn: session.txn.take(),
            state: session.state.take().unwrap_or_default(),
        };
        let result = match result {
            Ok(ran) => {
                if configured.is_none() {
                    checks.extend(ran.default_checks);
                }
                details.extend(ran.detail);
                chain.ran(step, &name, effects, Ok(()));
                chain.pending.push(pending);
                continue;
            }
            Err(e) => e,
        };
        // Plan mode shows the rest of a chain past a script it cannot plan.
        let skippable = !step.required || matches!(result, Error::NotPlannable(_));
        if chained && skippable {
            tracing::warn!(%point, hook = %name, "optional handler failed, the chain goes on: {result}");
            let result = match &journal {
                Some(j) => finish(opts, j, vec![pending], point, Err(result)),
                None => Err(result),
            };
            chain.ran(step, &name, effects, result.map_err(|e| e.to_string()));
            continue;
        }
        chain.ran(step, &name, effects, Err(result.to_string()));
        chain.pending.push(pending);
        failed = Some(result);
        break;
    }
    for c in &chain.conflicts {
        tracing::warn!(%point, "conflict: {c}");
    }
    let result = match failed {
        Some(e) => Err(e),
        None if opts.mode == Mode::Apply && !checks.is_empty() => {
            crate::verify::verify(&mut verifier, &checks, timeout)
                .map_err(|why| Error::VerifyFailed { point, why })
        }
        None => Ok(()),
    };
    let result = match &journal {
        Some(j) => finish(opts, j, std::mem::take(&mut chain.pending), point, result),
        None => result,
    };
    let elapsed = started.elapsed();
    match &result {
        Ok(()) => tracing::info!(%point, ?elapsed, "done"),
        Err(e) => tracing::error!(%point, ?elapsed, "{e}"),
    }
    let detail = (!details.is_empty()).then(|| details.join("; "));
    Ok(Outcome {
        selection,
        elapsed,
        result,
        effects: chain.steps.iter().flat_map(|s| s.effects.clone()).collect(),
        detail,
        checks: checks.iter().map(ToString::to_string).collect(),
        steps: match chained {
            true => chain.steps,
            false => Vec::new(),
        },
        conflicts: chain.conflicts,
    })
}

/// One handler's transaction, kept open until the whole point ends: a
/// later required handler's failure rolls it back.
struct Pending {
    txn: Option<Arc<Mutex<Txn>>>,
    state: crate::caps::state::SharedPending,
}

/// What one handler of a chain did.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub hook: String,
    pub handler: String,
    pub required: bool,
    /// Its own result: a failed optional handler's error, rolled back.
    pub result: std::result::Result<(), String>,
    pub effects: Vec<Effect>,
}

/// A chain as it runs.
#[derive(Default)]
struct Chain {
    steps: Vec<StepOutcome>,
    pending: Vec<Pending>,
    /// Each object changed so far, and by which handler.
    objects: Vec<(String, String)>,
    conflicts: Vec<String>,
}

impl Chain {
    /// Note what `hook` changed; a change to an object an earlier handler
    /// of the chain changed is a conflict.
    fn touched(&mut self, hook: &str, effects: &[Effect]) {
        let mut mine = Vec::new();
        for object in effects.iter().filter_map(|e| e.change.object()) {
            if let Some((_, other)) = self.objects.iter().find(|(o, h)| *o == object && h != hook) {
                let c = format!(
                    "{hook} changes {object}, which {other} changed before it in this chain"
                );
                if !self.conflicts.contains(&c) {
                    self.conflicts.push(c);
                }
            }
            mine.push((object, hook.to_string()));
        }
        self.objects.extend(mine);
    }

    fn ran(
        &mut self,
        step: &select::Step,
        hook: &str,
        effects: Vec<Effect>,
        result: std::result::Result<(), String>,
    ) {
        self.steps.push(StepOutcome {
            hook: hook.to_string(),
            handler: step.handler.to_string(),
            required: step.required,
            result,
            effects,
        });
    }
}

/// One try of an event point's handler for one event, as a transaction:
/// journaled, committed, or rolled back when it fails.
pub fn run_event(
    opts: &Options,
    journal: &Journal,
    point: HookPoint,
    handler: &crate::config::PointConfig,
    runtime: &Runtime,
    loaded: &std::collections::HashMap<String, Loaded>,
    event: &crate::bindings::LinkEvent,
) -> Result<()> {
    use crate::config::PointConfig;
    let hook_name = match handler {
        PointConfig::Wasm { hook } => hook.as_str(),
        PointConfig::Script { .. } => script::HOOK_NAME,
        PointConfig::Builtin | PointConfig::None | PointConfig::Chain(_) => return Ok(()),
    };
    let _lock = journal.lock().map_err(|e| Error::Other(e.to_string()))?;
    let mut session = opts.session(Mode::Apply);
    let txn = journal
        .begin(point.name(), hook_name)
        .map_err(|e| Error::Other(e.to_string()))?;
    session.txn = Some(Arc::new(Mutex::new(txn)));
    session.state = Some(Default::default());
    let result = match handler {
        PointConfig::Wasm { hook } => {
            let config = &opts.config.hooks[hook];
            let l = loaded
                .get(hook)
                .ok_or_else(|| Error::Other(format!("hook {hook} is not loaded")))?;
            let host = opts.host(&session, hook, point, config.grants.clone(), config.timeout);
            let context = crate::bindings::EventContext {
                event: event.clone(),
                hook: hook.clone(),
                config: config.config.clone(),
            };
            runtime.run_event(config, l, host, context)
        }
        PointConfig::Script { script, timeout } => {
            let log = crate::caps::log::Log::new(caller(script::HOOK_NAME, point));
            let link: Vec<IfName> = IfName::parse(&event.link).into_iter().collect();
            let env = [
                ("NETHOOK_EVENT", point.name().to_string()),
                ("NETHOOK_LINK", event.link.clone()),
                ("NETHOOK_IFINDEX", event.index.to_string()),
                ("NETHOOK_ADDRESS", event.address.clone().unwrap_or_default()),
                ("NETHOOK_CHANGED", event.changed.join("; ")),
            ];
            script::run_with(&log, script, point, &link, *timeout, &env)
        }
        PointConfig::Builtin | PointConfig::None | PointConfig::Chain(_) => Ok(()),
    };
    let pending = Pending {
        txn: session.txn.take(),
        state: session.state.take().unwrap_or_default(),
    };
    finish(opts, journal, vec![pending], point, result)
}

fn join(checks: &[Check]) -> String {
    let shown: Vec<String> = checks.iter().map(ToString::to_string).collect();
    shown.join("; ")
}

/// What a handler that ran successfully leaves for the run.
struct Ran {
    detail: Option<String>,
    /// Checked after it when the point configures none.
    default_checks: Vec<Check>,
}

pub fn open_journal(opts: &Options) -> Result<Journal> {
    Journal::open(&opts.config.state_dir).map_err(|e| Error::Other(e.to_string()))
}

/// Commit the point's transactions (one per handler, in order), or roll
/// them back, newest first, when a handler failed (and the point's
/// `on_failure` says so).
fn finish(
    opts: &Options,
    journal: &Journal,
    steps: Vec<Pending>,
    point: HookPoint,
    result: Result<()>,
) -> Result<()> {
    let other = |e: crate::caps::CapError| Error::Other(e.to_string());
    let rollback = matches!(
        result,
        Err(Error::HookFailed { .. }
            | Error::HookTrapped { .. }
            | Error::HookTimedOut { .. }
            | Error::VerifyFailed { .. })
    ) && opts.config.on_failure(point) == OnFailure::Rollback;
    // A guest given up on while blocked in a host call may still hold a
    // transaction; once closed here, it refuses any change that thread makes.
    fn lock(txn: &Arc<Mutex<Txn>>) -> std::sync::MutexGuard<'_, Txn> {
        txn.lock().unwrap_or_else(|e| e.into_inner())
    }
    if !rollback {
        for step in &steps {
            // The state a handler changed is written before it is committed,
            // and its journal records before the state.
            if let Some(txn) = &step.txn {
                lock(txn).sync().map_err(other)?;
            }
            crate::caps::state::flush(&step.state, &opts.config.state_dir).map_err(other)?;
            if let Some(txn) = &step.txn {
                lock(txn).commit().map_err(other)?;
            }
        }
        if result.is_ok() {
            journal.trim(point.is_undo()).map_err(other)?;
        }
        return result;
    }
    let cause = result.expect_err("rolling back a failure");
    let (mut count, mut left) = (0, Vec::new());
    for step in steps.iter().rev() {
        let Some(txn) = &step.txn else { continue };
        let mut txn = lock(txn);
        let Some(path) = txn.path().map(Path::to_path_buf) else {
            // It changed nothing: nothing to roll back.
            txn.rolled_back(Vec::new()).map_err(other)?;
            continue;
        };
        let Some(log) = journal.log(&path).map_err(other)? else {
            // Not readable as a transaction: quarantined, with a warning.
            left.push(format!(
                "the changes journaled in {} (unreadable, moved aside)",
                path.display()
            ));
            continue;
        };
        let done = opts
            .undoer(&log.hook, point)
            .undo_logged(journal, &log, |_| true)
            .map_err(other)?;
        // Closed through the run's own handle: a straggling guest thread can
        // journal nothing more.
        txn.rolled_back(done.left.clone()).map_err(other)?;
        journal.forget(&path).map_err(other)?;
        count += done.count;
        left.extend(done.left);
    }
    if left.is_empty() {
        if count > 0 {
            tracing::warn!(%point, changes = count, "rolled back");
        }
        Err(cause)
    } else {
        Err(Error::RollbackIncomplete {
            cause: Box::new(cause),
            left,
        })
    }
}

/// Roll back every transaction a killed nethook left open, newest first
/// (a chain's later handler may have changed what an earlier one did),
/// exactly once: each undone change is marked durably, so a recovery that
/// is itself killed resumes where it stopped. Returns what it did.
fn recover_with(opts: &Options, journal: &Journal) -> Result<Vec<String>> {
    let other = |e: crate::caps::CapError| Error::Other(e.to_string());
    let mut report = Vec::new();
    for log in journal.newest_first().map_err(other)? {
        let log = log.map_err(other)?;
        if log.state != TxnState::Open {
            continue;
        }
        let point: HookPoint = log.point.parse().unwrap_or(HookPoint::VppErrored);
        let mut done = opts
            .undoer(&log.hook, point)
            .undo_logged(journal, &log, |_| true)
            .map_err(other)?;
        done.txn.rolled_back(done.left.clone()).map_err(other)?;
        journal.forget(&log.path).map_err(other)?;
        report.push(format!(
            "recovered: {} at {} (pid {}) was interrupted; {} of its changes rolled back{}",
            log.hook,
            log.point,
            log.pid,
            done.count,
            if done.left.is_empty() {
                String::new()
            } else {
                format!("; left: {}", done.left.join("; "))
            }
        ));
    }
    Ok(report)
}

/// `nethook recover`: roll back what interrupted runs left.
pub fn recover(opts: &Options) -> Result<Vec<String>> {
    let journal = open_journal(opts)?;
    let _lock = journal.lock().map_err(|e| Error::Other(e.to_string()))?;
    recover_with(opts, &journal)
}

/// Run the handler; what it found (the built-in module's detection).
fn dispatch(
    opts: &Options,
    session: &Session,
    point: HookPoint,
    step: &select::Step,
    uplinks: &[IfName],
    prepared: Option<(&Runtime, Loaded)>,
) -> Result<Ran> {
    let handler = &step.handler;
    let ran = |detail| Ran {
        detail,
        default_checks: Vec::new(),
    };
    match handler {
        Handler::None => Ok(ran(None)),
        Handler::Builtin => {
            if let Some(setting) = opts.env.compat_setting() {
                tracing::warn!(%point, "{setting}: {}", builtin::COMPAT);
            }
            let mut host = opts.host(
                session,
                builtin::HOOK_NAME,
                point,
                opts.builtin_grants(),
                step.timeout,
            );
            let settings = opts.builtin_settings();
            let detection = builtin::run(&mut host, point, uplinks, &settings)?;
            // By default the network service must be active after the
            // points that restart it.
            let restarts = point == HookPoint::VppRunning || point.is_undo();
            let default_checks = match detection.service {
                Some(s) if restarts && settings.restart_network => {
                    vec![Check::UnitActive(
                        crate::names::UnitName::parse(s.unit()).expect("a valid unit"),
                    )]
                }
                _ => Vec::new(),
            };
            Ok(Ran {
                detail: Some(format!("detected {detection}")),
                default_checks,
            })
        }
        Handler::Script { .. } if opts.mode == Mode::Plan => Err(Error::NotPlannable(point)),
        Handler::Script { script, timeout } => {
            let log = crate::caps::log::Log::new(caller(script::HOOK_NAME, point));
            script::run(&log, script, point, uplinks, *timeout).map(|()| ran(None))
        }
        // A chain is run by run_point, handler by handler.
        Handler::Chain(_) => Err(Error::Other("a chain inside a chain".into())),
        Handler::Wasm(hook) => {
            let (runtime, loaded) = prepared.expect("loaded before the transaction");
            if let CacheOutcome::Hit(_) = loaded.cache {
                tracing::debug!(hook = %hook.name, "no compilation needed");
            }
            // Uplinks are nethook's context, not the hook's own calls: looked
            // up by nethook itself (audited as hook "nethook"), not under
            // the hook's grants.
            let mut own = opts.host(
                session,
                "nethook",
                point,
                Grants::verifier(),
                crate::config::DEFAULT_TIMEOUT,
            );
            let wit = wit_point(point).ok_or(Error::EventPoint(point))?;
            let context = Context {
                point: wit,
                hook: hook.name.clone(),
                uplinks: uplinks
                    .iter()
                    .map(|name| Uplink {
                        name: name.to_string(),
                        mac: own
                            .netlink()
                            .get_link(name)
                            .ok()
                            .and_then(|l| l.mac)
                            .unwrap_or_default(),
                    })
                    .collect(),
                config: hook.config.clone(),
            };
            let host = opts.host(
                session,
                &hook.name,
                point,
                hook.grants.clone(),
                hook.timeout,
            );
            runtime
                .run(hook, &loaded, host, context)
                .map(|()| ran(None))
        }
    }
}

/// nethook's own read-only capabilities at `point`.
pub fn own_host(opts: &Options, point: HookPoint) -> Host {
    opts.own(point)
}

fn caller(hook: &str, point: HookPoint) -> Caller {
    Caller {
        hook: hook.to_string(),
        point,
    }
}

/// The WIT spelling of a dataplane point; none for an event point.
fn wit_point(p: HookPoint) -> Option<WitPoint> {
    Some(match p {
        HookPoint::BeforeIfRead => WitPoint::BeforeIfRead,
        HookPoint::BeforeVppRun => WitPoint::BeforeVppRun,
        HookPoint::VppRunning => WitPoint::VppRunning,
        HookPoint::VppDoneOk => WitPoint::VppDoneOk,
        HookPoint::VppErrored => WitPoint::VppErrored,
        _ => return None,
    })
}

/// One line of `check`: a point, its handler, why, how the dataplane
/// reaches it, and whether it is usable.
pub struct CheckLine {
    pub selection: Selection,
    pub dataplane: String,
    pub status: Result<String>,
    /// A chain's handlers, each checked; empty for one handler.
    pub steps: Vec<StepCheck>,
    /// What two handlers of the chain may both change, from their grants.
    pub conflicts: Vec<String>,
    /// What was loaded of each component the point runs.
    pub components: Vec<Component>,
}

/// One handler of a chain, checked.
pub struct StepCheck {
    pub step: select::Step,
    pub status: Result<String>,
}

/// A component as `check` loaded it: what a fleet operator compares.
#[derive(Debug, Clone)]
pub struct Component {
    pub hook: String,
    pub sha256: String,
    pub targets: String,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handler = match &self.selection.handler {
            Handler::Builtin => format!("builtin: {}", builtin::DESCRIPTION),
            Handler::Chain(steps) => format!("chain of {} handlers", steps.len()),
            other => other.to_string(),
        };
        let status = |s: &Result<String>| match s {
            Ok(s) => s.clone(),
            Err(e) => format!("ERROR: {e}"),
        };
        write!(f, "{:<15} {handler}", self.selection.point.name())?;
        for (i, s) in self.steps.iter().enumerate() {
            write!(
                f,
                "\n{:<15} {}. {}{}: {}",
                "",
                i + 1,
                s.step.handler,
                if s.step.required { "" } else { " (optional)" },
                status(&s.status)
            )?;
        }
        for c in &self.conflicts {
            write!(f, "\n{:<15} WARNING: conflict: {c}", "")?;
        }
        write!(
            f,
            "\n{:<15} why: {}\n{:<15} dataplane: {}\n{:<15} status: {}",
            "",
            self.selection.reason,
            "",
            self.dataplane,
            "",
            status(&self.status)
        )
    }
}

/// Loads components once for all of `check`.
struct Checker<'a> {
    opts: &'a Options,
    runtime: Option<Runtime>,
    components: Vec<Component>,
}

impl Checker<'_> {
    /// Whether `handler` can run: at a dataplane point, or an event point.
    fn handler(&mut self, handler: &Handler, event: bool) -> Result<String> {
        match handler {
            Handler::Wasm(hook) => {
                let rt = match &mut self.runtime {
                    Some(rt) => rt,
                    none => none.insert(Runtime::new(&self.opts.config.compiled_dir())?),
                };
                let l = rt.load(hook)?;
                let pin = match (&hook.fetched, hook.sha256.is_some()) {
                    (Some(f), _) => format!(
                        " (from {}, manifest {}, signature {})",
                        hook.source, f.manifest_digest, f.signature
                    ),
                    (None, true) => " (matches pin)".into(),
                    (None, false) => " (not pinned)".into(),
                };
                self.components.push(Component {
                    hook: hook.name.clone(),
                    sha256: hex::encode(l.sha256),
                    targets: l.targets.clone(),
                });
                match (event, l.is_hook(), l.is_event_hook()) {
                    (false, false, _) => Err(Error::component(&hook.component, NOT_A_POINT_HOOK)),
                    (true, _, false) => Err(Error::component(
                        &hook.component,
                        "exports no nethook:hooks/event-guest: it runs only at the dataplane's points; build it with nethook_sdk::export_event_hook!",
                    )),
                    (false, true, _) => Ok(format!(
                        "ok: component targets nethook:hooks@{}, sha256 {}{pin}",
                        l.targets,
                        hex::encode(l.sha256),
                    )),
                    (true, _, true) => Ok(format!(
                        "ok: event hook, targets nethook:hooks@{}, sha256 {}{pin}",
                        l.targets,
                        hex::encode(l.sha256),
                    )),
                }
            }
            Handler::Script { timeout, .. } => Ok(format!(
                "ok: legacy script, not sandboxed, timeout {}",
                humantime::format_duration(*timeout)
            )),
            Handler::Builtin if !event => Ok(match self.opts.env.compat_setting() {
                Some(setting) => format!("ok: {setting}: {}", builtin::COMPAT),
                None => "ok".to_string(),
            }),
            _ => Ok("ok".to_string()),
        }
    }

    /// A chain's handlers, each checked on its own.
    fn steps(&mut self, handler: &Handler) -> Vec<StepCheck> {
        let Handler::Chain(steps) = handler else {
            return Vec::new();
        };
        steps
            .iter()
            .map(|step| StepCheck {
                step: step.clone(),
                status: self.handler(&step.handler, false),
            })
            .collect()
    }
}

/// What two handlers of a chain may both change, judged from their grants.
/// A script is not sandboxed: it may change anything, so it is not judged.
pub fn conflicts(opts: &Options, handler: &Handler) -> Vec<String> {
    let Handler::Chain(steps) = handler else {
        return Vec::new();
    };
    let grants = |h: &Handler| match h {
        Handler::Builtin => Some(opts.builtin_grants()),
        Handler::Wasm(hook) => Some(hook.grants.clone()),
        _ => None,
    };
    let mut found = Vec::new();
    for (i, a) in steps.iter().enumerate() {
        for (j, b) in steps.iter().enumerate().skip(i + 1) {
            let (Some(ga), Some(gb)) = (grants(&a.handler), grants(&b.handler)) else {
                continue;
            };
            for what in ga.overlaps(&gb) {
                found.push(format!(
                    "handlers {} ({}) and {} ({}) may both change {what}",
                    i + 1,
                    a.handler.hook_name(),
                    j + 1,
                    b.handler.hook_name()
                ));
            }
        }
    }
    found
}

/// What the built-in module would find on the node (reads only).
pub fn detect(opts: &Options) -> std::result::Result<builtin::Detection, crate::caps::CapError> {
    let session = opts.session(Mode::Plan);
    let mut host = Host::new(
        caller(builtin::HOOK_NAME, HookPoint::BeforeIfRead),
        Grants::builtin(),
        session,
    );
    builtin::detect(&mut host)
}

/// Validate every point's handler without running any of them.
pub fn check(opts: &Options) -> Result<Vec<CheckLine>> {
    let mut checker = Checker {
        opts,
        runtime: None,
        components: Vec::new(),
    };
    let mut lines = Vec::new();
    for point in HookPoint::ALL {
        let selection = opts.select(point)?;
        let steps = checker.steps(&selection.handler);
        let status = match steps.iter().position(|s| s.status.is_err()) {
            _ if steps.is_empty() => checker.handler(&selection.handler, false),
            // The step's own error is what first_error returns.
            Some(i) => Err(Error::Other(format!(
                "handler {} of the chain cannot run: nothing of the chain runs",
                i + 1
            ))),
            None => Ok(format!("ok: {} handlers, in order", steps.len())),
        };
        lines.push(CheckLine {
            dataplane: dataplane_route(&opts.env, point),
            conflicts: conflicts(opts, &selection.handler),
            components: std::mem::take(&mut checker.components),
            selection,
            status,
            steps,
        });
    }
    for (point, ep) in &opts.config.events {
        let handler = Handler::of(&ep.handler, &opts.config);
        let status = checker.handler(&handler, true);
        lines.push(CheckLine {
            selection: Selection {
                point: *point,
                handler,
                reason: select::Reason::Config(opts.config.source()),
            },
            dataplane: format!(
                "event point, run by `nethook watch` for {}",
                ep.filter.describe()
            ),
            status,
            steps: Vec::new(),
            conflicts: Vec::new(),
            components: std::mem::take(&mut checker.components),
        });
    }
    Ok(lines)
}

/// How the dataplane reaches `point`, from its variables.
fn dataplane_route(env: &Environment, point: HookPoint) -> String {
    let var = point.env_var();
    if let Some(value) = env.invocations.get(&point) {
        return format!("{var} calls nethook ({value:?}); not a handler choice");
    }
    if env.scripts.contains_key(&point) {
        return format!(
            "{var} is a script: the dataplane runs it itself; nethook runs it only if called here some other way"
        );
    }
    if env.invocations.is_empty() && env.scripts.is_empty() {
        return "no CALICOVPP_HOOK_* in the environment: not under the dataplane, or it does not call nethook".into();
    }
    match env.builtin_enabled {
        true => format!("{var} is empty: the dataplane runs its own native hook here, not nethook"),
        false => {
            format!("{var} is empty: the dataplane runs its default_hook.sh here, not nethook")
        }
    }
}

/// The first error among check lines, for the exit code.
pub fn first_error(lines: Vec<CheckLine>) -> Option<Error> {
    lines.into_iter().find_map(|l| {
        let step = l.steps.into_iter().find_map(|s| s.status.err());
        step.or(l.status.err())
    })
}
