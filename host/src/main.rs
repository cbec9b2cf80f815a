//! The `nethook` command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use nethook::caps::{Audit, Mode};
use nethook::config::{Config, HookSource};
use nethook::error::exit;
use nethook::names::IfName;
use nethook::run::{self, Options};
use nethook::select::{CliHandler, Environment, Handler};
use nethook::{Error, HookPoint};

/// Where `run` and `check` look for a config when none is given.
const DEFAULT_CONFIG: &str = "/etc/nethook/nethook.toml";

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

#[derive(clap::Args)]
struct Selection {
    /// Config file [default: $NETHOOK_CONFIG, else /etc/nethook/nethook.toml
    /// if it exists, else the embedded default: built-in at every point].
    #[arg(long, env = "NETHOOK_CONFIG")]
    config: Option<PathBuf>,
    /// Override a point's handler: POINT=builtin|none|script:CMD|wasm:HOOK|wasm:PATH.wasm
    #[arg(long = "handler", value_name = "POINT=SPEC")]
    handlers: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Called by the dataplane: set every CALICOVPP_HOOK_<POINT> to
    /// `exec nethook hook "$0" "$1"`. Runs the handler selected for POINT,
    /// with the uplinks of the config, else of CALICOVPP_INTERFACE(S), else UPLINK0.
    Hook {
        /// The dataplane's $0: VPP_RUNNING (or vpp-running), ...
        point: String,
        /// The dataplane's $1: its first uplink.
        uplink0: Option<String>,
        #[command(flatten)]
        selection: Selection,
    },
    /// Run the handler selected for one hook point.
    Run {
        /// before-if-read | before-vpp-run | vpp-running | vpp-done-ok |
        /// vpp-errored (or the dataplane's BEFORE_IF_READ, ...)
        point: String,
        #[command(flatten)]
        selection: Selection,
        /// An uplink interface (repeatable, in the dataplane's order).
        #[arg(long = "uplink", value_name = "NAME")]
        uplinks: Vec<String>,
    },
    /// Run the handler for one point with reads performed and changes
    /// recorded instead of made, and print the ordered effects.
    Plan {
        point: String,
        #[command(flatten)]
        selection: Selection,
        #[arg(long = "uplink", value_name = "NAME")]
        uplinks: Vec<String>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the config and every component it references, and print
    /// which handler runs at each point and why.
    Check {
        #[command(flatten)]
        selection: Selection,
        /// Print, for each point, its chain of handlers and each hook's
        /// source, digest, signature and grants as JSON: the document a
        /// fleet operator compares between nodes.
        #[arg(long)]
        json: bool,
    },
    /// Run all five points on a throwaway network namespace and state
    /// directory, and print what each handler did (needs root).
    Demo {
        #[command(flatten)]
        selection: Selection,
    },
    /// Roll back what interrupted runs left (any `run` or `hook` does this
    /// first too), and print what was done.
    Recover {
        #[command(flatten)]
        selection: Selection,
    },
    /// Run until SIGTERM: the event points' handlers (link-added,
    /// link-removed, link-down, link-up, address-lost) as the node's links
    /// change. SIGHUP reloads the config.
    Watch {
        #[command(flatten)]
        selection: Selection,
    },
    /// Make a hook project in DIR/NAME: the hook's source, a build script,
    /// a nethook.toml with the grants it uses, a README, and the WIT contract.
    New {
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: nethook::scaffold::Lang,
        /// Where the project directory is made.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Run one hook at one point on a throwaway node (a network namespace
    /// with an uplink, a temporary host root) and print the plan, the
    /// effects made and what changed (needs root). TARGET: a project
    /// directory (its nethook.toml), a config file, or a .wasm (no grants).
    Test {
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
    },
    /// Print the WIT reference (docs/wit-reference.md) from the contract
    /// built into this binary.
    WitReference,
    /// Wrap a core wasm module built with nethook-sdk into a component.
    Componentize {
        core: PathBuf,
        #[arg(long, short)]
        output: PathBuf,
    },
    /// Publish a component as an OCI artifact (config
    /// application/vnd.wasm.config.v0+json, one application/wasm layer) and
    /// print its pinned reference, oci://REGISTRY/REPOSITORY@sha256:DIGEST.
    Push {
        wasm: PathBuf,
        /// oci://REGISTRY[:PORT]/REPOSITORY:TAG
        reference: String,
        /// Registry settings ([registries]) from this config.
        #[arg(long, env = "NETHOOK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Fetch every hook's oci:// component into the cache (e.g. in an init
    /// container), verifying digests, pins and signatures; print one line
    /// per hook.
    Pull {
        #[arg(long, env = "NETHOOK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Sign a pushed component with a cosign private key (password from
    /// $COSIGN_PASSWORD) and push the signature as cosign does.
    Sign {
        /// oci://REGISTRY/REPOSITORY@sha256:DIGEST, as `push` prints it.
        reference: String,
        #[arg(long)]
        key: PathBuf,
        #[arg(long, env = "NETHOOK_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Write cosign.key (encrypted with $COSIGN_PASSWORD) and cosign.pub in
    /// DIR, in cosign's formats.
    GenerateKeyPair {
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
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
    match execute(cli.command, audit) {
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

fn execute(command: Command, audit: Audit) -> anyhow::Result<u8> {
    let apply = |selection: &Selection, uplinks| {
        options(selection, uplinks, None, Mode::Apply, audit.clone())
    };
    // What runs one point fetches only the components that point runs.
    let at_point = |selection: &Selection, uplinks, uplink0, mode, point| {
        let mut opts = options_as_configured(selection, uplinks, uplink0, mode, audit.clone())?;
        let handler = opts.select(point)?.handler;
        let wanted: Vec<String> = handler.hooks().into_iter().map(String::from).collect();
        nethook::oci::resolve_sources_of(&mut opts.config, |h| wanted.iter().any(|w| w == h))?;
        Ok::<_, Error>(opts)
    };
    let oci_ref =
        |text: &str| nethook::oci::OciRef::parse(text).map_err(|e| Error::Setting(e.to_string()));
    match command {
        Command::Hook {
            point,
            uplink0,
            selection,
        } => {
            let (point, _) = parse_point(&point, &[])?;
            let uplink0 = uplink0
                .filter(|u| !u.is_empty())
                .map(|u| IfName::parse(&u))
                .transpose()
                .map_err(|m| Error::Setting(format!("the dataplane's $1 (UPLINK0): {m}")))?;
            let opts = at_point(&selection, Vec::new(), uplink0, Mode::Apply, point)?;
            let outcome = run::run_point(&opts, point)?;
            outcome.result?;
            Ok(exit::OK)
        }
        Command::Run {
            point,
            selection,
            uplinks,
        } => {
            let (point, uplinks) = parse_point(&point, &uplinks)?;
            let opts = at_point(&selection, uplinks, None, Mode::Apply, point)?;
            let outcome = run::run_point(&opts, point)?;
            outcome.result?;
            Ok(exit::OK)
        }
        Command::Plan {
            point,
            selection,
            uplinks,
            json,
        } => {
            let (point, uplinks) = parse_point(&point, &uplinks)?;
            let opts = at_point(&selection, uplinks, None, Mode::Plan, point)?;
            let outcome = run::run_point(&opts, point)?;
            print_plan(&outcome, json);
            outcome.result?;
            Ok(exit::OK)
        }
        Command::Check { selection, json } => {
            let opts = apply(&selection, Vec::new())?;
            if json {
                let lines = run::check(&opts)?;
                println!("{:#}", fleet_view(&opts, &lines));
                return match run::first_error(lines) {
                    Some(e) => Err(e.into()),
                    None => Ok(exit::OK),
                };
            }
            println!("config: {}", opts.config.source());
            let uplinks = opts.uplinks();
            println!("uplinks: {uplinks}");
            if uplinks.names.is_empty() {
                println!("WARNING: {}", run::NO_UPLINKS);
            }
            match nethook::durable::check(&opts.config.state_dir, &opts.config.node.root) {
                Ok(where_) => println!("state: {where_}"),
                Err(why) => println!("state: WARNING: {why}"),
            }
            let lines = run::check(&opts)?;
            for line in &lines {
                println!("{line}");
            }
            if lines
                .iter()
                .any(|l| l.selection.handler == Handler::Builtin)
            {
                match run::detect(&opts) {
                    Ok(d) => println!(
                        "built-in module on {}: detected {d}",
                        opts.config.node.root.display()
                    ),
                    Err(e) => println!(
                        "built-in module on {}: detection failed: {e}",
                        opts.config.node.root.display()
                    ),
                }
            }
            match run::first_error(lines) {
                Some(e) => Err(e.into()),
                None => Ok(exit::OK),
            }
        }
        Command::Demo { selection } => {
            let opts = apply(&selection, Vec::new())?;
            println!(
                "nethook demo: config {}, uplink {}",
                opts.config.source(),
                nethook::demo::UPLINK
            );
            let outcomes = nethook::demo::demo(opts)?;
            println!("\n{:<15} {:<24} {:>9}  result", "POINT", "HANDLER", "TIME");
            let mut code = exit::OK;
            for o in &outcomes {
                let handler = match &o.selection.handler {
                    Handler::Wasm(hook) => format!("wasm {}", hook.name),
                    other => other.to_string(),
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
        Command::Recover { selection } => {
            // Undoing what was left needs no component: never a registry.
            let opts =
                options_as_configured(&selection, Vec::new(), None, Mode::Apply, audit.clone())?;
            let report = run::recover(&opts)?;
            if report.is_empty() {
                println!("nothing to recover");
            }
            for line in &report {
                println!("{line}");
            }
            Ok(exit::OK)
        }
        Command::Watch { selection } => {
            let opts = apply(&selection, Vec::new())?;
            let file = selection.config.clone().or_else(|| {
                Path::new(DEFAULT_CONFIG)
                    .exists()
                    .then(|| PathBuf::from(DEFAULT_CONFIG))
            });
            let reload = || {
                let mut config = match &file {
                    Some(f) => Config::load(f)?,
                    None => Config::default(),
                };
                fetch_sources(&mut config)?;
                Ok(config)
            };
            nethook::watch::watch(opts, reload)?;
            Ok(exit::OK)
        }
        Command::New { name, lang, dir } => {
            let project = nethook::scaffold::new(&dir, &name, lang)?;
            println!("made {}: build it with {}/build.sh, then `nethook check --config {}/nethook.toml` and `sudo nethook test {}`",
                project.display(), project.display(), project.display(), project.display());
            Ok(exit::OK)
        }
        Command::Test {
            target,
            point,
            fixture,
            json,
            keep,
        } => {
            let (point, _) = parse_point(&point, &[])?;
            let mut config = test_config(&target, point)?;
            fetch_sources(&mut config)?;
            let opts = Options {
                config,
                cli: Vec::new(),
                env: Environment::default(),
                uplinks: Vec::new(),
                uplink_arg: None,
                mode: Mode::Apply,
                audit: audit.clone(),
            };
            let report = nethook::testbed::test(opts, point, fixture.as_deref(), keep)?;
            print_test(&report, json);
            match report.applied.result {
                Ok(()) => Ok(exit::OK),
                Err(e) => Ok(e.exit_code()),
            }
        }
        Command::WitReference => {
            print!("{}", nethook::witdoc::reference().map_err(Error::Other)?);
            Ok(exit::OK)
        }
        Command::Componentize { core, output } => {
            let bytes =
                std::fs::read(&core).with_context(|| format!("reading {}", core.display()))?;
            let component = nethook::componentize::componentize(&bytes)
                .map_err(|e| Error::component(&core, e))?;
            std::fs::write(&output, component)
                .with_context(|| format!("writing {}", output.display()))?;
            Ok(exit::OK)
        }
        Command::Push {
            wasm,
            reference,
            config,
        } => {
            let reference = oci_ref(&reference)?;
            let registries = load_config(config.as_deref())?.registries;
            let digest = nethook::oci::push(&wasm, &reference, &registries)?;
            println!("{}", reference.with_digest(&digest));
            Ok(exit::OK)
        }
        Command::Pull { config } => {
            let mut config = load_config(config.as_deref())?;
            let fetched = fetch_sources(&mut config)?;
            if fetched.is_empty() {
                println!("no hook in {} has an oci:// component", config.source());
            }
            for (name, f) in &fetched {
                let Some(HookSource::Oci(reference)) = config.hooks.get(name).map(|h| &h.source)
                else {
                    continue;
                };
                println!(
                    "{name} {} wasm sha256:{} signature: {}{}",
                    reference.with_digest(&f.manifest_digest),
                    hex::encode(f.blob_sha256),
                    f.signature,
                    if f.from_cache { " [cached]" } else { "" }
                );
            }
            Ok(exit::OK)
        }
        Command::Sign {
            reference,
            key,
            config,
        } => {
            let reference = oci_ref(&reference)?;
            let registries = load_config(config.as_deref())?.registries;
            let signature = nethook::oci::sign(&reference, &key, &cosign_password()?, &registries)?;
            println!("{signature}");
            Ok(exit::OK)
        }
        Command::GenerateKeyPair { dir } => {
            let (private, public) = nethook::oci::generate_key_pair(&dir, &cosign_password()?)?;
            println!(
                "private key: {}\npublic key: {}",
                private.display(),
                public.display()
            );
            Ok(exit::OK)
        }
    }
}

/// As cosign: the key's password from $COSIGN_PASSWORD (which may be empty).
fn cosign_password() -> Result<Vec<u8>, Error> {
    use std::os::unix::ffi::OsStringExt as _;
    std::env::var_os("COSIGN_PASSWORD")
        .map(|p| p.into_vec())
        .ok_or_else(|| {
            Error::Setting(
                "set COSIGN_PASSWORD to the key's password (COSIGN_PASSWORD= for none)".into(),
            )
        })
}

/// Fetch the hooks' oci:// components (from the cache when there) and
/// point the hooks at them.
fn fetch_sources(config: &mut Config) -> Result<Vec<(String, nethook::oci::Fetched)>, Error> {
    let fetched = nethook::oci::resolve_sources(config)?;
    for (hook, f) in &fetched {
        tracing::debug!(
            hook,
            manifest = f.manifest_digest,
            from_cache = f.from_cache,
            signature = %f.signature,
            "component fetched"
        );
    }
    Ok(fetched)
}

/// The point, and the `--uplink` names, parsed.
fn parse_point(point: &str, uplinks: &[String]) -> Result<(HookPoint, Vec<IfName>), Error> {
    let uplinks = uplinks
        .iter()
        .map(|u| IfName::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| Error::Setting(format!("--uplink: {m}")))?;
    let point = point.parse().map_err(|e| Error::Setting(format!("{e}")))?;
    Ok((point, uplinks))
}

/// The config `nethook test TARGET` runs: a project's, a file, or one
/// made for a bare component (the hook at `point`, no grants).
fn test_config(target: &Path, point: HookPoint) -> Result<Config, Error> {
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

fn print_test(r: &nethook::testbed::Report, json: bool) {
    let effect = |e: &nethook::caps::Effect| {
        serde_json::json!({
            "capability": e.change.capability(),
            "operation": e.change.operation(),
            "args": e.change.args(),
            "undo": e.inverse.to_string(),
        })
    };
    if json {
        let doc = serde_json::json!({
            "point": r.applied.selection.point.name(),
            "handler": r.applied.selection.handler.to_string(),
            "host_root": r.host_root,
            "kept": r.kept.is_some(),
            "plan": r.plan.effects.iter().map(effect).collect::<Vec<_>>(),
            "plan_error": r.plan.result.as_ref().err().map(ToString::to_string),
            "effects": r.applied.effects.iter().map(effect).collect::<Vec<_>>(),
            "error": r.applied.result.as_ref().err().map(ToString::to_string),
            "elapsed_ms": r.applied.elapsed.as_secs_f64() * 1e3,
            "files": r.files,
            "netns": r.netns,
        });
        println!("{doc:#}");
        return;
    }
    let sel = &r.applied.selection;
    println!(
        "nethook test: {} at {} on a throwaway node (uplink {}, host root {}{})",
        sel.handler,
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

/// `check --json`: per point, its handlers in order, each hook's source,
/// digest, signature status and grants. Nothing in it varies between two
/// runs on one node, so two nodes' documents diff cleanly.
fn fleet_view(opts: &Options, lines: &[run::CheckLine]) -> serde_json::Value {
    let status = |s: &Result<String, Error>| match s {
        Ok(s) => serde_json::json!({ "ok": true, "status": s }),
        Err(e) => {
            serde_json::json!({ "ok": false, "error": e.to_string(), "exit_code": e.exit_code() })
        }
    };
    let handler =
        |line: &run::CheckLine, step: &nethook::select::Step, checked: serde_json::Value| {
            let mut doc = serde_json::json!({
                "handler": match &step.handler {
                    Handler::Builtin => "builtin",
                    Handler::Wasm(_) => "wasm",
                    Handler::Script { .. } => "script",
                    Handler::None => "none",
                    Handler::Chain(_) => "chain",
                },
                "hook": step.handler.hook_name(),
                "required": step.required,
                "check": checked,
            });
            let fields = doc.as_object_mut().expect("an object");
            match &step.handler {
                Handler::Builtin => {
                    fields.insert(
                        "timeout_ms".into(),
                        (step.timeout.as_millis() as u64).into(),
                    );
                    fields.insert("grants".into(), serde_json::json!(opts.builtin_grants()));
                }
                Handler::Script { script, timeout } => {
                    fields.insert("script".into(), script.as_str().into());
                    fields.insert("timeout_ms".into(), (timeout.as_millis() as u64).into());
                    fields.insert("sandboxed".into(), false.into());
                }
                Handler::Wasm(hook) => {
                    let loaded = line.components.iter().find(|c| c.hook == hook.name);
                    fields.insert(
                        "timeout_ms".into(),
                        (hook.timeout.as_millis() as u64).into(),
                    );
                    fields.insert("memory_bytes".into(), hook.memory.into());
                    fields.insert(
                        "component".into(),
                        serde_json::json!({
                            "source": hook.source.to_string(),
                            "sha256": loaded.map(|c| c.sha256.clone()),
                            "pinned": hook.sha256.is_some(),
                            "targets": loaded.map(|c| format!("nethook:hooks@{}", c.targets)),
                            // Registry hooks only: what was fetched and verified.
                            "manifest": hook.fetched.as_ref().map(|f| f.manifest_digest.clone()),
                            "signature": hook.fetched.as_ref().map(|f| f.signature.to_string()),
                        }),
                    );
                    fields.insert("grants".into(), serde_json::json!(hook.grants));
                }
                Handler::None | Handler::Chain(_) => {}
            }
            doc
        };
    let points: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            let sel = &line.selection;
            let chain: Vec<serde_json::Value> = match line.steps.is_empty() {
                true => sel
                    .handler
                    .steps()
                    .iter()
                    .map(|s| handler(line, s, status(&line.status)))
                    .collect(),
                false => line
                    .steps
                    .iter()
                    .map(|s| handler(line, &s.step, status(&s.status)))
                    .collect(),
            };
            serde_json::json!({
                "point": sel.point.name(),
                "event": sel.point.is_event(),
                "reason": sel.reason.to_string(),
                "dataplane": line.dataplane,
                "check": status(&line.status),
                "on_failure": format!("{:?}", opts.config.on_failure(sel.point)).to_lowercase(),
                "chain": chain,
                "conflicts": line.conflicts,
            })
        })
        .collect();
    serde_json::json!({
        "nethook": env!("CARGO_PKG_VERSION"),
        "config": opts.config.source(),
        "uplinks": opts.uplinks().names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "points": points,
    })
}

fn print_plan(outcome: &run::Outcome, json: bool) {
    let sel = &outcome.selection;
    let effect = |e: &nethook::caps::Effect| {
        serde_json::json!({
            "capability": e.change.capability(),
            "operation": e.change.operation(),
            "args": e.change.args(),
            "change": e.change,
            "undo": e.inverse,
            "undo_text": e.inverse.to_string(),
        })
    };
    if json {
        let doc = serde_json::json!({
            "point": sel.point.name(),
            "handler": sel.handler.to_string(),
            "reason": sel.reason.to_string(),
            "detail": outcome.detail,
            "effects": outcome.effects.iter().map(effect).collect::<Vec<_>>(),
            "error": outcome.result.as_ref().err().map(ToString::to_string),
            "verify": outcome.checks,
            "chain": outcome.steps.iter().map(|s| serde_json::json!({
                "hook": s.hook,
                "handler": s.handler,
                "required": s.required,
                "error": s.result.as_ref().err(),
                "effects": s.effects.iter().map(effect).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "conflicts": outcome.conflicts,
        });
        println!("{doc:#}");
        return;
    }
    println!(
        "plan for {}: {}  [{}]",
        sel.point.name(),
        sel.handler,
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

/// The `i`-th effect as `plan` and `test` print it.
fn effect_row(i: usize, e: &nethook::caps::Effect) -> String {
    format!(
        "  {:>2}  {:<16} {:<18} {}",
        i + 1,
        e.change.capability(),
        e.change.operation(),
        e.change.args()
    )
}

/// The config file given, else the default one if it exists, else the
/// embedded default.
fn load_config(path: Option<&Path>) -> Result<Config, Error> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => Config::load(Path::new(DEFAULT_CONFIG))?,
        None => Config::default(),
    })
}

/// Options for a command that runs hooks: their oci:// components fetched.
fn options(
    selection: &Selection,
    uplinks: Vec<IfName>,
    uplink_arg: Option<IfName>,
    mode: Mode,
    audit: Audit,
) -> Result<Options, Error> {
    let mut opts = options_as_configured(selection, uplinks, uplink_arg, mode, audit)?;
    fetch_sources(&mut opts.config)?;
    Ok(opts)
}

fn options_as_configured(
    selection: &Selection,
    uplinks: Vec<IfName>,
    uplink_arg: Option<IfName>,
    mode: Mode,
    audit: Audit,
) -> Result<Options, Error> {
    let config = load_config(selection.config.as_deref())?;
    let cli = selection
        .handlers
        .iter()
        .map(|h| CliHandler::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Options {
        config,
        cli,
        env: Environment::from_process()?,
        uplinks,
        uplink_arg,
        mode,
        audit,
    })
}
