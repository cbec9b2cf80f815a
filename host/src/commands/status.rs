//! `nethook status`: what nethook holds on this node and what it last did.

use nethook::caps::Mode;
use nethook::error::exit;
use nethook::status::Status;

use super::{options_as_configured, Ctx, Selection};

/// Print what nethook holds on the node now (each uplink's capture, the
/// files its changes left, interrupted runs and what recovery would do)
/// and what it last did at each point, from its own records. Changes
/// nothing.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
    /// Print the status as JSON (docs/reports.md).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    // Records only: no registry, no component.
    let opts = options_as_configured(&args.selection, Vec::new(), None, Mode::Plan, ctx)?;
    let status = nethook::status::read(&opts);
    match args.json {
        true => println!("{:#}", serde_json::to_value(&status)?),
        false => print_text(&status),
    }
    Ok(exit::OK)
}

fn print_text(s: &Status) {
    println!("nethook {} (config {})", s.nethook, s.config);
    println!(
        "records: {} ({})",
        s.state_dir,
        match s.durable.ok {
            true => s.durable.detail.clone(),
            false => format!("NOT DURABLE: {}", s.durable.detail),
        }
    );
    println!("uplinks:");
    if s.uplinks.is_empty() {
        println!("  (none captured)");
    }
    for u in &s.uplinks {
        let values: Vec<String> = u.captured.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  {}: {}", u.name, values.join(" "));
    }
    println!("points:");
    for p in &s.points {
        match &p.runs {
            None => println!("  {:<15} never run", p.point),
            Some(r) => {
                let result = match r.last.exit_code {
                    0 => "ok".to_string(),
                    code => format!("FAILED (exit {code}): {}", r.last.outcome),
                };
                println!(
                    "  {:<15} {} {} {:.0} ms, {} change(s){}: {result}",
                    p.point,
                    r.last.started,
                    r.last.handler,
                    r.last.elapsed_ms,
                    r.last.changes,
                    if r.last.rolled_back {
                        ", rolled back"
                    } else {
                        ""
                    },
                );
                println!(
                    "  {:<15} runs {}, failures {}, rollbacks {}",
                    "", r.runs, r.failures, r.rollbacks
                );
            }
        }
    }
    println!(
        "transactions: {} committed, {} interrupted",
        s.transactions.committed,
        s.transactions.open.len()
    );
    for t in &s.transactions.open {
        println!(
            "  {} at {} (pid {}, began {}){}:",
            t.hook,
            t.point,
            t.pid,
            t.began,
            if t.this_boot { "" } else { ", before a reboot" }
        );
        for c in &t.recovery {
            println!("    recovery would: {c}");
        }
    }
    println!("files:");
    if s.files.is_empty() {
        println!("  (none)");
    }
    for f in &s.files {
        println!(
            "  {} ({} at {}): {} sha256 {}",
            f.path,
            f.hook,
            f.point,
            f.state,
            &f.sha256[..f.sha256.len().min(16)]
        );
    }
    for w in &s.warnings {
        println!("WARNING: {w}");
    }
}
