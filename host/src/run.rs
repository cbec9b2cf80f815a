//! Running what a point's spec says: at a dataplane point, its handlers in
//! order, each in its own transaction, then verification, then commit or
//! roll back (`txn`); at an event point, one handler for one event, as a
//! transaction of its own. One dispatch runs a handler at either kind.

use std::time::{Duration, Instant};

use crate::bindings::{Context, EventContext, LinkEvent, Uplink};
use crate::caps::{Effect, Grants, Mode, Session};
use crate::error::{Error, Result};
use crate::names::IfName;
use crate::options::{Options, NO_UPLINKS};
use crate::point::{DataplanePoint, EventPoint, HookPoint};
use crate::select::Selection;
use crate::spec::{Handler, Step};
use crate::txn::{Transaction, Transactions};
use crate::verify::Check;
use crate::wasm::{CacheOutcome, Loaded, Runtime};
use crate::{builtin, script};

/// What happened at one point.
#[derive(Debug)]
pub struct Outcome {
    pub selection: Selection,
    pub elapsed: Duration,
    pub result: Result<()>,
    /// What the handlers changed, or would change in plan mode, in order.
    pub effects: Vec<Effect>,
    /// What the handlers found, e.g. the built-in module's detection.
    pub detail: Option<String>,
    /// The checks verification ran (or, in plan mode, would run).
    pub checks: Vec<String>,
    /// A chain's handlers, each with what it did; empty for one handler.
    pub steps: Vec<StepOutcome>,
    /// Two handlers of the chain that changed the same object.
    pub conflicts: Vec<String>,
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

pub(crate) const NOT_A_POINT_HOOK: &str =
    "exports no nethook:hooks/guest: it is an event hook, for `nethook watch`'s event points only";

/// Run what is selected for `point`. Selection errors (a bad flag or
/// variable) are returned before anything runs.
pub fn run_point(opts: &Options, point: DataplanePoint) -> Result<Outcome> {
    if let Some(parent) = &opts.env.parent {
        return Err(Error::Nested(parent.clone()));
    }
    let selection = opts.select(point)?;
    let uplinks = opts.uplinks();
    tracing::info!(%point, handler = %selection.spec, reason = %selection.reason, %uplinks, "running");
    if let (Some(arg), Some(first)) = (&opts.uplink_arg, uplinks.names.first()) {
        if arg != first {
            let (arg, first): (&str, &str) = (arg, first);
            tracing::warn!(%point, "the dataplane's $1 is {arg:?} but the first uplink is {first:?} (from {})", uplinks.source);
        }
    }
    if uplinks.names.is_empty() && point == DataplanePoint::BeforeIfRead {
        tracing::warn!(%point, "{NO_UPLINKS}");
    }
    let spec = &selection.spec;
    let started = Instant::now();
    let started_at = crate::runs::now();
    // A component that cannot run is refused before anything is touched.
    let mut runtime: Option<Runtime> = None;
    let mut prepared = Vec::new();
    for step in &spec.steps {
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
    // A point is a transaction: journaled, committed, or rolled back; what
    // an interrupted run left is rolled back first.
    let undoer = |hook: &str, p: HookPoint| opts.undoer(hook, p);
    let txns = match opts.mode {
        Mode::Apply => {
            let (txns, recovered) = Transactions::begin_run(&opts.config.state_dir, &undoer)?;
            for r in recovered {
                tracing::warn!(%point, "{r}");
            }
            Some(txns)
        }
        Mode::Plan => None,
    };
    let mut checks: Vec<Check> = spec
        .verify
        .as_ref()
        .map(|v| v.checks.clone())
        .unwrap_or_default();
    let timeout = spec
        .verify
        .as_ref()
        .map_or(crate::verify::DEFAULT_TIMEOUT, |v| v.timeout);
    let mut verifier = opts.host(
        &opts.session(opts.mode),
        "verify",
        point.into(),
        Grants::verifier(),
        Duration::from_secs(3600),
    );
    if spec.verify.as_ref().is_some_and(|v| v.auto) {
        let picked = crate::verify::auto_checks(&mut verifier, &uplinks.names);
        tracing::info!(%point, checks = %join(&picked), "verify = auto: these hold now and must after");
        checks.extend(picked);
    }
    let mut chain = Chain::default();
    let mut failed = None;
    let mut details = Vec::new();
    for (step, loaded) in spec.steps.iter().zip(prepared) {
        let name = step.handler.hook_name().to_string();
        let mut session = opts.session(opts.mode);
        let txn = match &txns {
            Some(t) => Some(t.begin(point.into(), &name)?),
            None => None,
        };
        session.txn = txn.as_ref().map(Transaction::recording);
        let prepared = loaded
            .as_ref()
            .map(|l| (runtime.as_ref().expect("made with the load"), l));
        let call = Call::Point {
            point,
            uplinks: &uplinks.names,
        };
        let result = dispatch(opts, &session, step, &call, prepared);
        let effects = std::mem::take(&mut *session.effects.lock().expect("effects lock"));
        chain.touched(&name, &effects);
        let result = match result {
            Ok(ran) => {
                if spec.verify.is_none() {
                    checks.extend(ran.default_checks);
                }
                details.extend(ran.detail);
                chain.ran(step, &name, effects, Ok(()));
                chain.open.extend(txn);
                continue;
            }
            Err(e) => e,
        };
        // Plan mode shows the rest of a chain past a script it cannot plan.
        let skippable = !step.required || matches!(result, Error::NotPlannable(_));
        if spec.chain && skippable {
            tracing::warn!(%point, hook = %name, "optional handler failed, the chain goes on: {result}");
            let result = match (&txns, txn) {
                (Some(t), Some(txn)) => {
                    let left = t.roll_back_one(txn, point.into(), &undoer)?;
                    match left.is_empty() {
                        true => Err(result),
                        false => Err(Error::RollbackIncomplete {
                            cause: Box::new(result),
                            left,
                        }),
                    }
                }
                _ => Err(result),
            };
            chain.ran(step, &name, effects, result.map_err(|e| e.to_string()));
            continue;
        }
        chain.ran(step, &name, effects, Err(result.to_string()));
        chain.open.extend(txn);
        failed = Some(result);
        break;
    }
    for c in &chain.conflicts {
        tracing::warn!(%point, "conflict: {c}");
    }
    let result = match failed {
        Some(e) => Err(e),
        None if opts.mode == Mode::Apply && !checks.is_empty() => {
            crate::verify::verify(&mut verifier, &checks, timeout).map_err(|why| {
                Error::VerifyFailed {
                    point: point.into(),
                    why,
                }
            })
        }
        None => Ok(()),
    };
    let result = match &txns {
        Some(t) => t.settle(
            std::mem::take(&mut chain.open),
            &opts.config.state_dir,
            point.into(),
            result,
            spec.on_failure,
            &undoer,
        ),
        None => result,
    };
    let elapsed = started.elapsed();
    let effects: Vec<Effect> = chain.steps.iter().flat_map(|s| s.effects.clone()).collect();
    let changes = summary(&effects);
    match &result {
        Ok(()) => tracing::info!(%point, ?elapsed, changes = %changes, "done"),
        Err(e) => tracing::error!(%point, ?elapsed, changes = %changes, "{e}"),
    }
    if opts.mode == Mode::Apply {
        let rolled_back = crate::txn::rolls_back(&result, spec.on_failure);
        record(
            opts,
            point,
            &selection,
            started_at,
            elapsed,
            &result,
            effects.len(),
            rolled_back,
        );
    }
    let detail = (!details.is_empty()).then(|| details.join("; "));
    Ok(Outcome {
        elapsed,
        result,
        effects,
        detail,
        checks: checks.iter().map(ToString::to_string).collect(),
        steps: match spec.chain {
            true => chain.steps,
            false => Vec::new(),
        },
        conflicts: chain.conflicts,
        selection,
    })
}

/// What a point changed, in a few words for its log line: the count, and
/// the first changes as `capability.operation args`.
fn summary(effects: &[Effect]) -> String {
    const SHOWN: usize = 4;
    if effects.is_empty() {
        return "none".into();
    }
    let mut shown: Vec<String> = effects
        .iter()
        .take(SHOWN)
        .map(|e| {
            let args = crate::text::bounded(&e.change.args(), 80);
            format!("{}.{} {args}", e.change.capability(), e.change.operation())
        })
        .collect();
    if effects.len() > SHOWN {
        shown.push(format!("and {} more", effects.len() - SHOWN));
    }
    format!("{}: {}", effects.len(), shown.join("; "))
}

/// The point's run, for `status` and the metrics textfile. A record that
/// cannot be written is said, never the point's failure.
#[allow(clippy::too_many_arguments)]
fn record(
    opts: &Options,
    point: DataplanePoint,
    selection: &Selection,
    started: String,
    elapsed: Duration,
    result: &Result<()>,
    changes: usize,
    rolled_back: bool,
) {
    let last = crate::runs::LastRun {
        started,
        handler: selection.spec.to_string(),
        elapsed_ms: elapsed.as_secs_f64() * 1e3,
        outcome: match result {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        },
        exit_code: result.as_ref().err().map_or(0, Error::exit_code),
        changes,
        rolled_back,
    };
    let runs = match crate::runs::Runs::record(&opts.config.state_dir, point.name(), last) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(%point, "cannot record the run for `nethook status`: {e}");
            return;
        }
    };
    if let Some(path) = &opts.config.metrics.textfile {
        if let Err(e) = crate::metrics::write_textfile(path, &runs) {
            tracing::warn!(%point, textfile = %path.display(), "cannot write the metrics textfile: {e}");
        }
    }
}

/// A chain as it runs.
#[derive(Default)]
struct Chain {
    steps: Vec<StepOutcome>,
    /// The transactions of the handlers that ran, open until the point ends.
    open: Vec<Transaction>,
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
        step: &Step,
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
/// journaled, committed, or rolled back when it fails. The journal is
/// locked for the try alone: the dataplane's points run between events.
pub fn run_event(
    opts: &Options,
    point: EventPoint,
    handler: &Handler,
    runtime: &Runtime,
    loaded: &std::collections::HashMap<String, Loaded>,
    event: &LinkEvent,
) -> Result<()> {
    if matches!(handler, Handler::Builtin | Handler::None) {
        return Ok(());
    }
    let step = Step {
        handler: handler.clone(),
        required: true,
        timeout: crate::hook::DEFAULT_TIMEOUT,
    };
    let txns = Transactions::open(&opts.config.state_dir)?;
    let txn = txns.begin(point.into(), handler.hook_name())?;
    let mut session = opts.session(Mode::Apply);
    session.txn = Some(txn.recording());
    let prepared = match handler {
        Handler::Wasm(hook) => Some((
            runtime,
            loaded
                .get(&hook.name)
                .ok_or_else(|| Error::Other(format!("hook {} is not loaded", hook.name)))?,
        )),
        _ => None,
    };
    let result = dispatch(
        opts,
        &session,
        &step,
        &Call::Event { point, event },
        prepared,
    );
    let undoer = |hook: &str, p: HookPoint| opts.undoer(hook, p);
    txns.settle(
        vec![txn],
        &opts.config.state_dir,
        point.into(),
        result.map(drop),
        crate::spec::OnFailure::Rollback,
        &undoer,
    )
}

/// `nethook recover`: roll back what interrupted runs left.
pub fn recover(opts: &Options) -> Result<Vec<String>> {
    let undoer = |hook: &str, p: HookPoint| opts.undoer(hook, p);
    let (_, report) = Transactions::begin_run(&opts.config.state_dir, &undoer)?;
    Ok(report)
}

fn join(checks: &[Check]) -> String {
    let shown: Vec<String> = checks.iter().map(ToString::to_string).collect();
    shown.join("; ")
}

/// What a handler is called for.
enum Call<'a> {
    Point {
        point: DataplanePoint,
        uplinks: &'a [IfName],
    },
    Event {
        point: EventPoint,
        event: &'a LinkEvent,
    },
}

impl Call<'_> {
    fn point(&self) -> HookPoint {
        match self {
            Call::Point { point, .. } => (*point).into(),
            Call::Event { point, .. } => (*point).into(),
        }
    }
}

/// What a handler that ran successfully leaves for the run.
struct Ran {
    detail: Option<String>,
    /// Checked after it when the point configures none.
    default_checks: Vec<Check>,
}

/// Run one handler, at a dataplane point or for an event.
fn dispatch(
    opts: &Options,
    session: &Session,
    step: &Step,
    call: &Call<'_>,
    prepared: Option<(&Runtime, &Loaded)>,
) -> Result<Ran> {
    let point = call.point();
    let ran = |detail| Ran {
        detail,
        default_checks: Vec::new(),
    };
    match (&step.handler, call) {
        (Handler::None, _) => Ok(ran(None)),
        (Handler::Builtin, Call::Point { point, uplinks }) => {
            if let Some(setting) = opts.env.compat_setting() {
                tracing::warn!(%point, "{setting}: {}", builtin::COMPAT);
            }
            let mut host = opts.host(
                session,
                builtin::HOOK_NAME,
                (*point).into(),
                opts.builtin_grants(),
                step.timeout,
            );
            let settings = opts.builtin_settings();
            let detection = builtin::run(&mut host, *point, uplinks, &settings).map_err(|e| {
                Error::HookFailed {
                    hook: builtin::HOOK_NAME.into(),
                    point: (*point).into(),
                    message: e.to_string(),
                }
            })?;
            // By default the network service must be active after the
            // points that take the uplink over or give it back.
            let restarts = *point == DataplanePoint::VppRunning || point.is_undo();
            let default_checks = match detection.service {
                Some(s) if restarts => {
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
        // The config refuses the built-in module at an event point.
        (Handler::Builtin, Call::Event { .. }) => Ok(ran(None)),
        (Handler::Script { .. }, Call::Point { point, .. }) if opts.mode == Mode::Plan => {
            Err(Error::NotPlannable(*point))
        }
        (Handler::Script { script, timeout }, call) => {
            let log = crate::caps::log::Log::new(crate::caps::Caller {
                hook: script::HOOK_NAME.into(),
                point,
            });
            match call {
                Call::Point { uplinks, .. } => {
                    script::run(&log, script, point, uplinks, *timeout).map(|()| ran(None))
                }
                Call::Event { point, event } => {
                    let link: Vec<IfName> = IfName::parse(&event.link).into_iter().collect();
                    let env = [
                        ("NETHOOK_EVENT", point.name().to_string()),
                        ("NETHOOK_LINK", event.link.clone()),
                        ("NETHOOK_IFINDEX", event.index.to_string()),
                        ("NETHOOK_ADDRESS", event.address.clone().unwrap_or_default()),
                        ("NETHOOK_CHANGED", event.changed.join("; ")),
                    ];
                    script::run_with(&log, script, (*point).into(), &link, *timeout, &env)
                        .map(|()| ran(None))
                }
            }
        }
        (Handler::Wasm(hook), call) => {
            let (runtime, loaded) = prepared.expect("loaded before the transaction");
            if let CacheOutcome::Hit(_) = loaded.cache {
                tracing::debug!(hook = %hook.name, "no compilation needed");
            }
            let host = opts.host(
                session,
                &hook.name,
                point,
                hook.grants.clone(),
                hook.timeout,
            );
            match call {
                Call::Point { point, uplinks } => {
                    // Uplinks are nethook's context, not the hook's own
                    // calls: looked up by nethook itself (audited as hook
                    // "nethook"), not under the hook's grants.
                    let mut own = opts.host(
                        session,
                        "nethook",
                        (*point).into(),
                        Grants::verifier(),
                        crate::hook::DEFAULT_TIMEOUT,
                    );
                    let context = Context {
                        point: point.wit(),
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
                    runtime.run(hook, loaded, host, context).map(|()| ran(None))
                }
                Call::Event { event, .. } => {
                    let context = EventContext {
                        event: (*event).clone(),
                        hook: hook.name.clone(),
                        config: hook.config.clone(),
                    };
                    runtime
                        .run_event(hook, loaded, host, context)
                        .map(|()| ran(None))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::change::{HostFsChange, StateChange};
    use crate::caps::Inverse;

    fn write(path: &str) -> Effect {
        Effect {
            change: HostFsChange::FileWrite {
                path: path.into(),
                size: 1,
                mode: None,
                sha256: String::new(),
            }
            .into(),
            inverse: Inverse::Nothing,
        }
    }

    #[test]
    fn two_handlers_changing_one_object_conflict_once() {
        let mut chain = Chain::default();
        chain.touched("a", &[write("/etc/x"), write("/etc/y")]);
        // The same handler again, or a state change (no object): none.
        chain.touched("a", &[write("/etc/x")]);
        let state = Effect {
            change: StateChange::StateSet {
                key: "k".into(),
                value: "v".into(),
            }
            .into(),
            inverse: Inverse::Nothing,
        };
        chain.touched("b", &[state.clone(), write("/etc/z")]);
        assert!(chain.conflicts.is_empty(), "{:?}", chain.conflicts);
        chain.touched("c", &[write("/etc/x"), write("/etc/x")]);
        assert_eq!(
            chain.conflicts,
            ["c changes file /etc/x, which a changed before it in this chain"]
        );
    }
}
