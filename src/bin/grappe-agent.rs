//! `grappe-agent`: the command line of the device agent (see CONTRACT.md).

use clap::{Parser, Subcommand};
use grappe_agent::agent::{Agent, Mode, Outcome};
use grappe_agent::collect::{self, Root};
use grappe_agent::config::{self, Config};
use grappe_agent::update;
use grappe_agent::usage::{self, Ledger};
use grappe_agent::wire::{Envelope, Identity, Kind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// What `--version` prints: the version (the one the updater compares), the target triple
/// (release assets are named after it) and the git commit. The updater checks a new binary
/// by this line before installing it.
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| {
        format!(
            "{} ({}, commit {})",
            grappe_agent::version(),
            grappe_agent::TARGET,
            env!("GRAPPE_GIT_COMMIT")
        )
    })
}

/// Exit status for an invalid configuration: systemd is told not to restart on it.
const EXIT_CONFIG: u8 = 2;
/// Exit status of `run --once` when some reports stayed in the spool.
const EXIT_SPOOLED: u8 = 3;

#[derive(Parser)]
#[command(name = "grappe-agent", version = version_line(), about = "Reports this device's inventory, security posture, patch status and usage to the grappe's broker")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Collect now and print JSON on stdout (needs no broker and no config).
    Collect {
        /// Only this report.
        #[arg(long, value_parser = ["inventory", "posture", "patches", "usage"])]
        only: Option<String>,
        /// Read on-disk system files (/etc, /var, /usr) under DIR instead of /.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
        /// Indent the JSON.
        #[arg(long)]
        pretty: bool,
        /// The agent's state directory: the usage ledger is read from it, and the patch
        /// report's memo kept in it (the service uses its `[state] dir`). Without it no
        /// memo is used and the upgradable packages are computed afresh.
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },
    /// Run the service: collect on schedule, publish, spool while offline.
    Run {
        /// One full cycle, then exit: 0 if all was acknowledged, 3 if some stayed spooled.
        #[arg(long)]
        once: bool,
        /// With --once: how long to wait for the broker's acknowledgements.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Validate the config and the files it names: exit 0 if valid, 2 if not.
    CheckConfig {
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Signed self-update from the configured release server: install the newest release
    /// for this device (the service switches to it at its next start). Exit 0 if installed
    /// or up to date, 1 if refused (the reason is printed), 2 if the config is invalid.
    Update {
        /// Only say what would be installed; download nothing.
        #[arg(long)]
        check: bool,
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,rumqttc=warn"),
    )
    .format_timestamp(None)
    .init();
    match Cli::parse().command {
        Cmd::Collect {
            only,
            root,
            pretty,
            state_dir,
        } => collect_cmd(only.as_deref(), root, pretty, state_dir),
        Cmd::Run {
            once,
            timeout,
            config,
        } => run_cmd(config.as_deref(), once.then_some(timeout)),
        Cmd::CheckConfig { config } => check_config_cmd(config.as_deref()),
        Cmd::Update { check, config } => update_cmd(config.as_deref(), check),
    }
}

fn load_config(flag: Option<&Path>) -> Result<Config, config::ConfigError> {
    let path = config::resolve_path(flag);
    Config::load(&path, || collect::inventory::machine_id(&Root::host()))
}

fn check_config_cmd(flag: Option<&Path>) -> ExitCode {
    let config = match load_config(flag) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match config.check_certificate(SystemTime::now()) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
            print_line(&format!(
                "{}: valid; device {} reports to {}:{} under {}/",
                config.path.display(),
                config.identity.device,
                config.broker.host,
                config.broker.port,
                config.identity.branch()
            ))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn run_cmd(flag: Option<&Path>, once: Option<Duration>) -> ExitCode {
    let config = match load_config(flag) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // An installed version newer than this binary runs in its place (this call then does
    // not return); see grappe_agent::update.
    update::launch::hand_over(&config, once.is_some());
    // An expired certificate does not stop the agent: reports are spooled until it is
    // replaced, and the reason is logged and sent in the heartbeat once connected.
    match config.check_certificate(SystemTime::now()) {
        Ok(warnings) => warnings.iter().for_each(|w| log::warn!("{w}")),
        Err(e) => log::error!("{e}"),
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mode = match once {
        Some(timeout) => Mode::Once { timeout },
        None => Mode::Service,
    };
    let result = runtime.block_on(async { Agent::open(config)?.run(mode).await });
    drop(runtime);
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Relaunch) => {
            let error = update::launch::relaunch();
            log::error!("cannot restart through the packaged agent: {error}");
            ExitCode::FAILURE
        }
        Ok(Outcome::Spooled(_)) => ExitCode::from(EXIT_SPOOLED),
        Ok(Outcome::NotStored(_)) => ExitCode::FAILURE,
        Err(e) => {
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn update_cmd(flag: Option<&Path>, check: bool) -> ExitCode {
    let config = match load_config(flag) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let mode = if check {
        update::Mode::Check
    } else {
        update::Mode::Install
    };
    if mode == update::Mode::Install && update::root_over_service_state(&config.state_dir) {
        eprintln!(
            "error: as root, `grappe-agent update` would write into {}, which belongs to the service's user and which that user can change under root's feet. Let the service install it: `systemctl restart grappe-agent` (it looks for a release a few minutes after it starts) or `grappe-fleet cmd update-check --device {}`. `grappe-agent update --check` works as root.",
            config.state_dir.display(),
            config.identity.device
        );
        return ExitCode::FAILURE;
    }
    let report = update::attempt(&config, mode);
    let code = if report.outcome.is_problem() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    let mut line = report.to_string();
    if report.outcome == grappe_agent::wire::update::Outcome::Installed {
        line.push_str(
            "; the service switches to it at its next start (systemctl restart grappe-agent)",
        );
    }
    let printed = print_line(&line);
    if report.outcome.is_problem() {
        code
    } else {
        printed
    }
}

fn collect_cmd(
    only: Option<&str>,
    root_dir: Option<PathBuf>,
    pretty: bool,
    memo_dir: Option<PathBuf>,
) -> ExitCode {
    let root = root_dir.map(Root::at).unwrap_or_else(Root::host);
    if !root.is_host_disk() {
        if let Err(why) = root.check_is_system() {
            eprintln!("error: --root {why}");
            return ExitCode::from(2);
        }
    }
    // No config is needed; if one is readable it gives the identity and state directory.
    let config = load_config(None).ok();
    let identity = match &config {
        Some(c) => c.identity.clone(),
        None => Identity {
            grappe: String::new(),
            structure: String::new(),
            device: collect::inventory::machine_id(&root).unwrap_or_default(),
        },
    };
    let now = SystemTime::now();
    let kinds: Vec<Kind> = match only {
        Some(name) => Kind::from_name(name).into_iter().collect(),
        None => Kind::ALL.to_vec(),
    };
    // The ledger is read, never written, here; on the running system today's usage so far
    // is added in memory.
    let mut ledger = Ledger::default();
    if kinds.contains(&Kind::Usage) {
        let state_dir = memo_dir.clone().unwrap_or_else(|| {
            config
                .as_ref()
                .map(|c| root.file(&c.state_dir.to_string_lossy()))
                .unwrap_or_else(|| root.file("/var/lib/grappe-agent"))
        });
        ledger = Ledger::load(&state_dir.join("usage.json")).0;
        if root.is_host_disk() {
            if let Ok(probe) = usage::probe(&root) {
                ledger.record(&probe);
            }
        }
    }
    let mut reports = serde_json::Map::new();
    for kind in &kinds {
        let data = match collect::report(*kind, &root, &ledger, memo_dir.as_deref(), now) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let envelope = Envelope::new(*kind, &identity, now, 0, &data);
        reports.insert(
            kind.name().to_string(),
            serde_json::to_value(envelope).unwrap_or_default(),
        );
    }
    let output = match only {
        Some(_) => reports
            .into_iter()
            .next()
            .map(|(_, report)| report)
            .unwrap_or_default(),
        None => serde_json::Value::Object(reports),
    };
    let text = if pretty {
        serde_json::to_string_pretty(&output)
    } else {
        serde_json::to_string(&output)
    };
    print_line(&text.unwrap_or_default())
}

/// Writes one line to standard output. A reader that went away (`collect | head -c1`)
/// ends the command quietly and successfully, as ripgrep does; any other failure (a full
/// disk, `> /dev/full`) is an error, so that no truncated report passes for a whole one.
fn print_line(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}
