//! `nethook demo`: the five points on a throwaway node.

use nethook::caps::Mode;
use nethook::error::exit;
use nethook::spec::Handler;

use super::{options, Ctx, Selection};

/// Run all five points on a throwaway network namespace and state
/// directory, and print what each handler did (needs root).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let opts = options(&args.selection, Vec::new(), Mode::Apply, ctx)?;
    println!(
        "nethook demo: config {}, uplink {}",
        opts.config.source(),
        nethook::demo::UPLINK
    );
    let outcomes = nethook::demo::demo(opts)?;
    println!("\n{:<15} {:<24} {:>9}  result", "POINT", "HANDLER", "TIME");
    let mut code = exit::OK;
    for o in &outcomes {
        let handler = match o.selection.spec.single() {
            Some(Handler::Wasm(hook)) => format!("wasm {}", hook.name),
            _ => o.selection.spec.to_string(),
        };
        let result = match &o.result {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                code = code.max(e.exit_code());
                format!("error: {e}")
            }
        };
        println!(
            "{:<15} {:<24} {:>7.1}ms  {result}  [{}]",
            o.selection.point.name(),
            handler,
            o.elapsed.as_secs_f64() * 1000.0,
            o.selection.reason
        );
        if let Some(d) = &o.detail {
            println!("{:<15} {d}", "");
        }
        for e in &o.effects {
            println!("{:<15} did: {e}", "");
        }
    }
    Ok(code)
}
