//! `check`: every point's handlers validated without running any of them
//! (components loaded and compiled, scripts and the built-in module
//! described), how the dataplane reaches each point, and what two handlers
//! of a chain may both change.

use std::fmt;

use crate::builtin;
use crate::caps::{Grants, Mode};
use crate::dataplane::Environment;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::point::{DataplanePoint, HookPoint};
use crate::run::NOT_A_POINT_HOOK;
use crate::select::Reason;
use crate::spec::{Handler, PointSpec, Step};
use crate::wasm::Runtime;

/// One point as `check` sees it: its handlers, why, how the dataplane
/// reaches it, and whether it is usable.
pub struct CheckLine {
    pub point: HookPoint,
    pub spec: PointSpec,
    pub reason: Reason,
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
    pub step: Step,
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
        let handler = match self.spec.single() {
            _ if self.spec.chain => format!("chain of {} handlers", self.spec.steps.len()),
            Some(Handler::Builtin) => format!("builtin: {}", builtin::DESCRIPTION),
            Some(other) => other.to_string(),
            None => self.spec.to_string(),
        };
        let status = |s: &Result<String>| match s {
            Ok(s) => s.clone(),
            Err(e) => format!("ERROR: {e}"),
        };
        write!(f, "{:<15} {handler}", self.point.name())?;
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
            self.reason,
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
    fn steps(&mut self, spec: &PointSpec) -> Vec<StepCheck> {
        if !spec.chain {
            return Vec::new();
        }
        spec.steps
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
pub fn conflicts(opts: &Options, spec: &PointSpec) -> Vec<String> {
    if !spec.chain {
        return Vec::new();
    }
    let grants = |h: &Handler| match h {
        Handler::Builtin => Some(opts.builtin_grants()),
        Handler::Wasm(hook) => Some(hook.grants.clone()),
        _ => None,
    };
    let mut found = Vec::new();
    for (i, a) in spec.steps.iter().enumerate() {
        for (j, b) in spec.steps.iter().enumerate().skip(i + 1) {
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
    let mut host = opts.host(
        &session,
        builtin::HOOK_NAME,
        DataplanePoint::BeforeIfRead.into(),
        Grants::builtin(),
        crate::hook::DEFAULT_TIMEOUT,
    );
    builtin::detect(&mut host)
}

/// Validate every point's handlers without running any of them.
pub fn check(opts: &Options) -> Result<Vec<CheckLine>> {
    let mut checker = Checker {
        opts,
        runtime: None,
        components: Vec::new(),
    };
    let mut lines = Vec::new();
    for point in DataplanePoint::ALL {
        let selection = opts.select(point)?;
        let steps = checker.steps(&selection.spec);
        let status = match steps.iter().position(|s| s.status.is_err()) {
            _ if steps.is_empty() => {
                let one = selection.spec.steps[0].handler.clone();
                checker.handler(&one, false)
            }
            // The step's own error is what first_error returns.
            Some(i) => Err(Error::Other(format!(
                "handler {} of the chain cannot run: nothing of the chain runs",
                i + 1
            ))),
            None => Ok(format!("ok: {} handlers, in order", steps.len())),
        };
        lines.push(CheckLine {
            point: point.into(),
            dataplane: dataplane_route(&opts.env, point),
            conflicts: conflicts(opts, &selection.spec),
            components: std::mem::take(&mut checker.components),
            spec: selection.spec,
            reason: selection.reason,
            status,
            steps,
        });
    }
    for (point, ep) in &opts.config.events {
        let status = checker.handler(&ep.handler, true);
        lines.push(CheckLine {
            point: (*point).into(),
            spec: PointSpec::one(ep.handler.clone()),
            reason: Reason::Config(opts.config.source()),
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
fn dataplane_route(env: &Environment, point: DataplanePoint) -> String {
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
