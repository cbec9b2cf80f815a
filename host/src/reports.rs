//! The documents nethook prints as JSON, as types: what `check --json`,
//! `plan --json` and `test --json` promise their readers (docs/reports.md
//! describes each field). Built from what the library returns; rendering
//! them as text is the command line's business.

use serde::Serialize;

use crate::caps::{Change, Effect, Grants, Inverse};
use crate::check::CheckLine;
use crate::error::Error;
use crate::options::Options;
use crate::run::Outcome;
use crate::spec::{Handler, OnFailure, Step};
use crate::testbed;

/// `check --json`: per point, its handlers in order, each hook's source,
/// digest, signature status and grants. Nothing in it varies between two
/// runs on one node, so two nodes' documents diff cleanly.
#[derive(Debug, Serialize)]
pub struct FleetView {
    /// nethook's version.
    pub nethook: &'static str,
    /// The config file, or "the embedded default".
    pub config: String,
    pub uplinks: Vec<String>,
    pub points: Vec<PointView>,
}

/// One point of the fleet view.
#[derive(Debug, Serialize)]
pub struct PointView {
    pub point: &'static str,
    /// An event point (`nethook watch`), not the dataplane's.
    pub event: bool,
    /// Why these handlers: `cli: ...`, `env: ...`, `config: FILE`, `default: ...`.
    pub reason: String,
    /// How the dataplane reaches the point.
    pub dataplane: String,
    pub check: Status,
    pub on_failure: OnFailure,
    /// Its handlers in order; one handler is a chain of one.
    pub chain: Vec<HandlerView>,
    /// What two handlers may both change, from their grants.
    pub conflicts: Vec<String>,
}

/// Whether something can run; the error and its exit code when not.
#[derive(Debug, Serialize)]
pub struct Status {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

impl From<&Result<String, Error>> for Status {
    fn from(s: &Result<String, Error>) -> Status {
        match s {
            Ok(s) => Status {
                ok: true,
                status: Some(s.clone()),
                error: None,
                exit_code: None,
            },
            Err(e) => Status {
                ok: false,
                status: None,
                error: Some(e.to_string()),
                exit_code: Some(e.exit_code()),
            },
        }
    }
}

/// One handler of a point.
#[derive(Debug, Serialize)]
pub struct HandlerView {
    /// `builtin`, `wasm`, `script` or `none`.
    pub handler: &'static str,
    /// The name its changes and log lines go under.
    pub hook: String,
    pub required: bool,
    pub check: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Wasm hooks: the memory cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Scripts: the command, never sandboxed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandboxed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Grants>,
}

/// A wasm hook's component as loaded.
#[derive(Debug, Serialize)]
pub struct ComponentView {
    /// Its file, or its `oci://` reference.
    pub source: String,
    pub sha256: Option<String>,
    /// Whether the config pins its sha256.
    pub pinned: bool,
    /// `nethook:hooks@VERSION` it was built against.
    pub targets: Option<String>,
    /// Registry hooks only: the manifest fetched and its signature status.
    pub manifest: Option<String>,
    pub signature: Option<String>,
}

impl FleetView {
    pub fn of(opts: &Options, lines: &[CheckLine]) -> FleetView {
        let points = lines
            .iter()
            .map(|line| {
                let chain = match line.steps.is_empty() {
                    true => line
                        .spec
                        .steps
                        .iter()
                        .map(|s| HandlerView::of(opts, line, s, (&line.status).into()))
                        .collect(),
                    false => line
                        .steps
                        .iter()
                        .map(|s| HandlerView::of(opts, line, &s.step, (&s.status).into()))
                        .collect(),
                };
                PointView {
                    point: line.point.name(),
                    event: matches!(line.point, crate::point::HookPoint::Event(_)),
                    reason: line.reason.to_string(),
                    dataplane: line.dataplane.clone(),
                    check: (&line.status).into(),
                    on_failure: line.spec.on_failure,
                    chain,
                    conflicts: line.conflicts.clone(),
                }
            })
            .collect();
        FleetView {
            nethook: env!("CARGO_PKG_VERSION"),
            config: opts.config.source(),
            uplinks: opts.uplinks().names.iter().map(|n| n.to_string()).collect(),
            points,
        }
    }
}

impl HandlerView {
    fn of(opts: &Options, line: &CheckLine, step: &Step, check: Status) -> HandlerView {
        let mut view = HandlerView {
            handler: step.handler.kind(),
            hook: step.handler.hook_name().to_string(),
            required: step.required,
            check,
            timeout_ms: None,
            memory_bytes: None,
            script: None,
            sandboxed: None,
            component: None,
            grants: None,
        };
        let ms = |d: std::time::Duration| Some(d.as_millis() as u64);
        match &step.handler {
            Handler::Builtin => {
                view.timeout_ms = ms(step.timeout);
                view.grants = Some(opts.builtin_grants());
            }
            Handler::Script { script, timeout } => {
                view.script = Some(script.clone());
                view.timeout_ms = ms(*timeout);
                view.sandboxed = Some(false);
            }
            Handler::Wasm(hook) => {
                let loaded = line.components.iter().find(|c| c.hook == hook.name);
                view.timeout_ms = ms(hook.timeout);
                view.memory_bytes = Some(hook.memory);
                view.component = Some(ComponentView {
                    source: hook.source.to_string(),
                    sha256: loaded.map(|c| c.sha256.clone()),
                    pinned: hook.sha256.is_some(),
                    targets: loaded.map(|c| format!("nethook:hooks@{}", c.targets)),
                    manifest: hook.fetched.as_ref().map(|f| f.manifest_digest.clone()),
                    signature: hook.fetched.as_ref().map(|f| f.signature.to_string()),
                });
                view.grants = Some(hook.grants.clone());
            }
            Handler::None => {}
        }
        view
    }
}

/// `plan --json`: what a point would do, change by change, each with the
/// change that undoes it.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    pub point: &'static str,
    /// The handler, or `chain: a -> b`.
    pub handler: String,
    pub reason: String,
    /// What the handlers found (the built-in module's detection).
    pub detail: Option<String>,
    pub effects: Vec<PlannedEffect>,
    /// Why the plan could not be made to the end.
    pub error: Option<String>,
    /// The checks verification would run.
    pub verify: Vec<String>,
    /// A chain's handlers, each with its own effects; empty for one.
    pub chain: Vec<StepPlan>,
    pub conflicts: Vec<String>,
}

/// One handler of a planned chain.
#[derive(Debug, Serialize)]
pub struct StepPlan {
    pub hook: String,
    pub handler: String,
    pub required: bool,
    pub error: Option<String>,
    pub effects: Vec<PlannedEffect>,
}

impl PlanReport {
    pub fn of(outcome: &Outcome) -> PlanReport {
        let sel = &outcome.selection;
        let effects = |e: &[Effect]| e.iter().map(PlannedEffect::of).collect();
        PlanReport {
            point: sel.point.name(),
            handler: sel.spec.to_string(),
            reason: sel.reason.to_string(),
            detail: outcome.detail.clone(),
            effects: effects(&outcome.effects),
            error: outcome.result.as_ref().err().map(ToString::to_string),
            verify: outcome.checks.clone(),
            chain: outcome
                .steps
                .iter()
                .map(|s| StepPlan {
                    hook: s.hook.clone(),
                    handler: s.handler.clone(),
                    required: s.required,
                    error: s.result.as_ref().err().cloned(),
                    effects: effects(&s.effects),
                })
                .collect(),
            conflicts: outcome.conflicts.clone(),
        }
    }
}

/// `test --json`: one hook at one point on a throwaway node.
#[derive(Debug, Serialize)]
pub struct TestReport<'a> {
    pub point: &'static str,
    pub handler: String,
    /// The throwaway node's root.
    pub host_root: &'a std::path::Path,
    /// Whether it is still there (`--keep`).
    pub kept: bool,
    /// What the plan said, before the run.
    pub plan: Vec<EffectRow>,
    pub plan_error: Option<String>,
    /// What the run did.
    pub effects: Vec<EffectRow>,
    pub error: Option<String>,
    pub elapsed_ms: f64,
    /// Files of the host root that differ, with their lines.
    pub files: &'a [testbed::FileChange],
    /// `ip -j` views of the namespace that differ.
    pub netns: &'a [testbed::NetChange],
}

impl<'a> TestReport<'a> {
    pub fn of(r: &'a testbed::Report) -> TestReport<'a> {
        let effects = |e: &[Effect]| e.iter().map(EffectRow::of).collect();
        TestReport {
            point: r.applied.selection.point.name(),
            handler: r.applied.selection.spec.to_string(),
            host_root: &r.host_root,
            kept: r.kept.is_some(),
            plan: effects(&r.plan.effects),
            plan_error: r.plan.result.as_ref().err().map(ToString::to_string),
            effects: effects(&r.applied.effects),
            error: r.applied.result.as_ref().err().map(ToString::to_string),
            elapsed_ms: r.applied.elapsed.as_secs_f64() * 1e3,
            files: &r.files,
            netns: &r.netns,
        }
    }
}

/// A planned change: as audited (capability, operation, arguments), as a
/// value, and what undoes it, as a value and as text.
#[derive(Debug, Serialize)]
pub struct PlannedEffect {
    pub capability: &'static str,
    pub operation: &'static str,
    pub args: String,
    pub change: Change,
    pub undo: Inverse,
    pub undo_text: String,
}

impl PlannedEffect {
    fn of(e: &Effect) -> PlannedEffect {
        PlannedEffect {
            capability: e.change.capability(),
            operation: e.change.operation(),
            args: e.change.args(),
            change: e.change.clone(),
            undo: e.inverse.clone(),
            undo_text: e.inverse.to_string(),
        }
    }
}

/// A change made or planned, as `test` shows it.
#[derive(Debug, Serialize)]
pub struct EffectRow {
    pub capability: &'static str,
    pub operation: &'static str,
    pub args: String,
    /// What undoes it, as text.
    pub undo: String,
}

impl EffectRow {
    fn of(e: &Effect) -> EffectRow {
        EffectRow {
            capability: e.change.capability(),
            operation: e.change.operation(),
            args: e.change.args(),
            undo: e.inverse.to_string(),
        }
    }
}
