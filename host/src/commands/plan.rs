//! `nethook plan POINT`: what a point would do, without doing it.

use nethook::caps::Mode;
use nethook::error::exit;
use nethook::reports::PlanReport;
use nethook::run::Outcome;

use super::render::effect_row;
use super::{options_at, parse_point, Ctx, Selection};

/// Run the handler for one point with reads performed and changes
/// recorded instead of made, and print the ordered effects.
#[derive(clap::Args)]
pub struct Args {
    point: String,
    #[command(flatten)]
    selection: Selection,
    #[arg(long = "uplink", value_name = "NAME")]
    uplinks: Vec<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let (point, uplinks) = parse_point(&args.point, &args.uplinks)?;
    let opts = options_at(&args.selection, uplinks, None, Mode::Plan, point, ctx)?;
    let outcome = nethook::run::run_point(&opts, point)?;
    match args.json {
        true => println!("{:#}", serde_json::to_value(PlanReport::of(&outcome))?),
        false => print_text(&outcome),
    }
    outcome.result?;
    Ok(exit::OK)
}

fn print_text(outcome: &Outcome) {
    let sel = &outcome.selection;
    println!(
        "plan for {}: {}  [{}]",
        sel.point.name(),
        sel.spec,
        sel.reason
    );
    if let Some(detail) = &outcome.detail {
        println!("  {detail}");
    }
    for c in &outcome.checks {
        println!("  verify after: {c}");
    }
    for c in &outcome.conflicts {
        println!("  WARNING: conflict: {c}");
    }
    let table = |effects: &[nethook::caps::Effect]| {
        if effects.is_empty() {
            println!("  (no effects)");
            return;
        }
        println!(
            "  {:>2}  {:<16} {:<18} ARGUMENTS",
            "#", "CAPABILITY", "OPERATION"
        );
        for (i, e) in effects.iter().enumerate() {
            println!("{}", effect_row(i, e));
            println!("  {:>2}  {:<16} undo: {}", "", "", e.inverse);
        }
    };
    if outcome.steps.is_empty() {
        return table(&outcome.effects);
    }
    for (i, s) in outcome.steps.iter().enumerate() {
        println!(
            "handler {}: {}{}",
            i + 1,
            s.handler,
            if s.required { "" } else { " (optional)" }
        );
        if let Err(e) = &s.result {
            println!("  {e}");
        }
        table(&s.effects);
    }
}
