//! The `nethook` command line: global flags, logging, and one module per
//! subcommand (`commands/`).

mod commands;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use nethook::caps::Audit;
use nethook::error::exit;
use nethook::Error;

use commands::Ctx;

#[derive(Parser)]
#[command(
    name = "nethook",
    version,
    about = "Runs a node dataplane's network hooks: built-in, sandboxed WASM, or legacy scripts"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true, env = "NETHOOK_LOG_FORMAT")]
    log_format: LogFormat,
    /// Append one JSON line per capability call to FILE.
    #[arg(long, value_name = "FILE", global = true)]
    audit: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    Hook(commands::hook::Args),
    Run(commands::run::Args),
    Plan(commands::plan::Args),
    Check(commands::check::Args),
    Demo(commands::demo::Args),
    Recover(commands::recover::Args),
    Status(commands::status::Args),
    Watch(commands::watch::Args),
    New(commands::new::Args),
    Test(commands::test::Args),
    WitReference(commands::wit_reference::Args),
    Componentize(commands::componentize::Args),
    Push(commands::push::Args),
    Pull(commands::pull::Args),
    Sign(commands::sign::Args),
    GenerateKeyPair(commands::generate_key_pair::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let audit = match &cli.audit {
        Some(path) => match Audit::to_file(path) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("nethook: error: --audit {}: {e}", path.display());
                return ExitCode::from(exit::FAILURE);
            }
        },
        None => Audit::default(),
    };
    let ctx = Ctx { audit };
    match execute(cli.command, &ctx) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e
                .downcast_ref::<Error>()
                .map_or(exit::FAILURE, Error::exit_code);
            // Text from hooks, the node and registries is escaped where it
            // enters an error; a config error's excerpt is nethook's own.
            eprintln!("nethook: error: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn execute(command: Command, ctx: &Ctx) -> anyhow::Result<u8> {
    use commands as c;
    match command {
        Command::Hook(a) => c::hook::run(a, ctx),
        Command::Run(a) => c::run::run(a, ctx),
        Command::Plan(a) => c::plan::run(a, ctx),
        Command::Check(a) => c::check::run(a, ctx),
        Command::Demo(a) => c::demo::run(a, ctx),
        Command::Recover(a) => c::recover::run(a, ctx),
        Command::Status(a) => c::status::run(a, ctx),
        Command::Watch(a) => c::watch::run(a, ctx),
        Command::New(a) => c::new::run(a, ctx),
        Command::Test(a) => c::test::run(a, ctx),
        Command::WitReference(a) => c::wit_reference::run(a, ctx),
        Command::Componentize(a) => c::componentize::run(a, ctx),
        Command::Push(a) => c::push::run(a, ctx),
        Command::Pull(a) => c::pull::run(a, ctx),
        Command::Sign(a) => c::sign::run(a, ctx),
        Command::GenerateKeyPair(a) => c::generate_key_pair::run(a, ctx),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("NETHOOK_LOG")
        // The sigstore crate narrates each signature lookup; nethook's own
        // error says what was wrong.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sigstore=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // JSON escapes every string itself.
        LogFormat::Json => builder.json().flatten_event(false).init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(escaping_fields())
            .init(),
    }
}

/// Text log fields as `key=value`, the message bare, with every value
/// escaped: a guest's message, a link's name or a returned error cannot
/// start a line of its own that looks like nethook's.
fn escaping_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let shown = format!("{value:?}");
        let shown = nethook::text::escape(&shown);
        match field.name() {
            "message" => w.write_str(&shown),
            name => write!(w, "{name}={shown}"),
        }
    })
    .delimited(" ")
}
