//! `nethook test TARGET`: one hook at one point on a throwaway node.

use std::path::{Path, PathBuf};

use nethook::caps::Mode;
use nethook::config::Config;
use nethook::dataplane::Environment;
use nethook::error::exit;
use nethook::options::Options;
use nethook::reports::TestReport;
use nethook::testbed::Report;
use nethook::{DataplanePoint, Error};

use super::render::effect_row;
use super::{parse_point, Ctx};

/// Run one hook at one point on a throwaway node (a network namespace
/// with an uplink, a temporary host root) and print the plan, the
/// effects made and what changed (needs root). TARGET: a project
/// directory (its nethook.toml), a config file, or a .wasm (no grants).
#[derive(clap::Args)]
pub struct Args {
    target: PathBuf,
    #[arg(long, default_value = "vpp-running")]
    point: String,
    /// A directory copied in as the node's root (default: a
    /// NetworkManager-looking root with udev's record of the uplink).
    #[arg(long)]
    fixture: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Keep the throwaway node's files (host root, state) and print
    /// where they are; by default they are removed when the test ends.
    #[arg(long)]
    keep: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let (point, _) = parse_point(&args.point, &[])?;
    let config = test_config(&args.target, point)?;
    let (config, _) = nethook::sources::fetch_all(config)?;
    let opts = Options {
        config,
        cli: Vec::new(),
        env: Environment::default(),
        uplinks: Vec::new(),
        uplink_arg: None,
        mode: Mode::Apply,
        audit: ctx.audit.clone(),
    };
    let report = nethook::testbed::test(opts, point, args.fixture.as_deref(), args.keep)?;
    match args.json {
        true => println!("{:#}", serde_json::to_value(TestReport::of(&report))?),
        false => print_text(&report),
    }
    match report.applied.result {
        Ok(()) => Ok(exit::OK),
        Err(e) => Ok(e.exit_code()),
    }
}

/// The config `nethook test TARGET` runs: a project's, a file, or one
/// made for a bare component (the hook at `point`, no grants).
fn test_config(target: &Path, point: DataplanePoint) -> Result<Config, Error> {
    if target.is_dir() {
        return Ok(Config::load(&target.join("nethook.toml"))?);
    }
    if target.extension().is_some_and(|e| e == "toml") {
        return Ok(Config::load(target)?);
    }
    let name: String = target
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let component = std::path::absolute(target)
        .map_err(|e| Error::Setting(format!("{}: {e}", target.display())))?;
    let text = format!(
        "[points.{point}]\nhandler = \"wasm\"\nhook = {name:?}\n[hooks.{name}]\ncomponent = {component:?}\n"
    );
    Ok(Config::parse(Path::new("(nethook test)"), &text)?)
}

fn print_text(r: &Report) {
    let sel = &r.applied.selection;
    println!(
        "nethook test: {} at {} on a throwaway node (uplink {}, host root {}{})",
        sel.spec,
        sel.point.name(),
        nethook::demo::UPLINK,
        r.host_root.display(),
        if r.kept.is_some() {
            ", kept"
        } else {
            ", removed when the test ends; --keep keeps it"
        }
    );
    let list = |title: &str, effects: &[nethook::caps::Effect]| {
        println!("{title}:");
        if effects.is_empty() {
            println!("  (none)");
        }
        for (i, e) in effects.iter().enumerate() {
            println!("{}", effect_row(i, e));
        }
    };
    list("plan", &r.plan.effects);
    list("effects", &r.applied.effects);
    match &r.applied.result {
        Ok(()) => println!(
            "result: ok ({:.1} ms)",
            r.applied.elapsed.as_secs_f64() * 1e3
        ),
        Err(e) => println!("result: error: {e}"),
    }
    println!("host root:");
    if r.files.is_empty() {
        println!("  (unchanged)");
    }
    for f in &r.files {
        println!("  {} {}", f.change, f.path);
        for l in &f.removed {
            println!("    - {l}");
        }
        for l in &f.added {
            println!("    + {l}");
        }
    }
    println!("network namespace:");
    if r.netns.is_empty() {
        println!("  (unchanged)");
    }
    for n in &r.netns {
        println!("  {}:", n.view);
        for l in &n.removed {
            println!("    - {l}");
        }
        for l in &n.added {
            println!("    + {l}");
        }
    }
}
