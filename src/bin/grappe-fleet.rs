//! `grappe-fleet`: the command line of the grappe's IT staff (see the README): the grappe's
//! certificates (`pki`), the broker's configuration (`broker-config`), and the fleet as
//! the broker keeps it (`status`, `check`, `device`, `cmd`).

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use grappe_agent::fleet::broker_config::{self, DEFAULT_INSTALL_DIR};
use grappe_agent::fleet::config::{self as fleet_config, FleetConfig};
use grappe_agent::fleet::pki::{
    self, BrokerSettings, Ca, DeviceRequest, Fresh, KeySource, Pki, Reason, Role,
};
use grappe_agent::fleet::proof;
use grappe_agent::fleet::release::{self, Binary};
use grappe_agent::fleet::run::{self as fleet_run, Target};
use grappe_agent::fleet::status::{self, Filter};
use grappe_agent::fsutil;
use grappe_agent::wire::command::Command;
use std::net::IpAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

const DEFAULT_PKI_DIR: &str = "/var/lib/grappe-fleet/pki";

#[derive(Parser)]
#[command(
    name = "grappe-fleet",
    version,
    about = "The grappe's fleet: certificates, broker configuration, status and commands"
)]
struct Cli {
    #[command(subcommand)]
    command: Action,
}

#[derive(Subcommand)]
enum Action {
    /// The grappe's certificates: its CA, the broker's, one per operator and per device.
    Pki {
        /// The PKI directory (CA keys inside: keep it on the IT staff's machine, backed up).
        #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_PKI_DIR)]
        dir: PathBuf,
        #[command(subcommand)]
        command: PkiCmd,
    },
    /// Writes the Mosquitto configuration (TLS listeners, CRLs, per-device ACL) from the
    /// PKI; it is written again on every later `pki issue-*` and `pki revoke`.
    BrokerConfig {
        #[arg(long, value_name = "DIR", default_value = DEFAULT_PKI_DIR)]
        pki: PathBuf,
        /// The devices' port (MQTT over TLS).
        #[arg(long, default_value_t = 8883)]
        port: u16,
        /// The operators' port (grappe-fleet); default: the devices' port + 1.
        #[arg(long)]
        operator_port: Option<u16>,
        /// Where the files go: conf.d/grappe.conf and grappe/, as under /etc/mosquitto.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Where grappe/ will be on the broker (the paths written in grappe.conf).
        #[arg(long, value_name = "DIR", default_value = DEFAULT_INSTALL_DIR)]
        install_dir: PathBuf,
        /// Listen on this address only (default: every interface).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// The fleet at a glance: one row per device, grouped by structure, problems first.
    #[command(group(ArgGroup::new("format").args(["json", "csv"])))]
    Status {
        #[command(flatten)]
        view: ViewArgs,
        /// Only this structure.
        #[arg(long)]
        structure: Option<String>,
        /// Only the devices with a problem.
        #[arg(long)]
        problems: bool,
        #[arg(long)]
        json: bool,
        /// For a spreadsheet: `;`-separated, UTF-8 with a byte order mark.
        #[arg(long)]
        csv: bool,
    },
    /// For Centreon, Icinga, Nagios, Zabbix: one line with performance data; exit 0 OK,
    /// 1 WARNING, 2 CRITICAL, 3 UNKNOWN (broker unreachable, bad configuration).
    Check {
        #[command(flatten)]
        view: ViewArgs,
        /// Only this structure.
        #[arg(long)]
        structure: Option<String>,
    },
    /// Everything known about one device: inventory, every posture check with its
    /// evidence, pending updates, the month's usage.
    Device {
        #[command(flatten)]
        view: ViewArgs,
        /// The device id.
        id: String,
        /// The retained payloads as published.
        #[arg(long)]
        json: bool,
    },
    /// The equipment annex of a funding claim for a period: CSV, JSON, printable HTML
    /// (French by default), the devices' signed reports as evidence, SHA256SUMS.
    #[command(group(ArgGroup::new("when").required(true).args(["period", "from"])))]
    Proof {
        #[command(flatten)]
        view: ViewArgs,
        /// One month, YYYY-MM.
        #[arg(long, value_name = "YYYY-MM", conflicts_with_all = ["from", "to"])]
        period: Option<String>,
        /// First month of a range (with --to).
        #[arg(long, value_name = "YYYY-MM", requires = "to")]
        from: Option<String>,
        /// Last month of a range.
        #[arg(long, value_name = "YYYY-MM", requires = "from")]
        to: Option<String>,
        /// Only this structure.
        #[arg(long)]
        structure: Option<String>,
        /// The purchase list (CSV: structure, serial, device, description, invoice,
        /// purchase_date).
        #[arg(long, value_name = "FILE")]
        purchases: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "fr")]
        lang: ProofLang,
        /// The date the proof says it was made (RFC 3339; default now): to make an
        /// archived proof again, byte for byte.
        #[arg(long, value_name = "TIME", value_parser = humantime::parse_rfc3339_weak)]
        generated_at: Option<SystemTime>,
        /// Where to write it (a new or empty directory).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Checks a proof offline: checksums, every signature against the grappe CA, every
    /// figure of the CSV, JSON and HTML against the signed reports. Exit 0 verified, 1 not.
    Verify {
        /// The proof's directory.
        dir: PathBuf,
        /// The grappe CA certificate as you obtained it yourself: the proof's must be it.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// Sends a command to connected devices and prints each answer, or that none came.
    #[command(group(ArgGroup::new("target").required(true).args(["device", "structure", "all"])))]
    Cmd {
        #[command(flatten)]
        view: ViewArgs,
        #[arg(value_enum)]
        command: CommandName,
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        structure: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// The agent's signed self-update: the release key pair, signed archives and the
    /// manifest.json devices read, and staged rollouts.
    Release {
        #[command(subcommand)]
        command: ReleaseCmd,
    },
}

#[derive(Subcommand)]
enum ReleaseCmd {
    /// Makes the release key pair: release.key (keep it offline) and release.pub (for devices).
    Keygen {
        /// Where the pair goes (created 0700 if missing; an existing key is never replaced).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Packs and signs agent binaries as a release and adds it to DIR/manifest.json.
    Sign {
        /// The release key (release.key from `release keygen`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The version the binaries were built as (X.Y.Z); a published version never changes.
        #[arg(long, value_name = "X.Y.Z")]
        version: String,
        /// Only this percent of devices take it at first (default: all); widen with `release rollout`.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
        rollout_percent: Option<u8>,
        /// The publication directory: archives and manifest.json, as on the file server.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The binaries (default: every target/TARGET/release/grappe-agent that exists).
        #[arg(value_name = "TARGET=PATH", value_parser = parse_binary)]
        binaries: Vec<Binary>,
    },
    /// Sets the percent of devices that take a release (after watching `grappe-fleet status`).
    Rollout {
        /// The publication directory holding manifest.json.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, value_name = "X.Y.Z")]
        version: String,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: u8,
    },
}

/// clap wants an error it can box: anyhow's, flattened to its text.
fn parse_binary(arg: &str) -> std::result::Result<Binary, String> {
    release::parse_binary(arg).map_err(|e| format!("{e:#}"))
}

#[derive(Args)]
struct ViewArgs {
    /// fleet.toml (default: $GRAPPE_FLEET_CONFIG, else /etc/grappe-fleet/fleet.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How long the broker (or, for `cmd`, the devices) may take to answer.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProofLang {
    Fr,
    En,
}

#[derive(Clone, Copy, ValueEnum)]
enum CommandName {
    Refresh,
    Ping,
    UpdateCheck,
}

#[derive(Subcommand)]
enum PkiCmd {
    /// Creates the grappe CA and the operators' CA (ECDSA P-256, 20 years).
    Init {
        /// The grappe id, as in every agent.toml ([a-z0-9-]).
        #[arg(long)]
        grappe: String,
    },
    /// The broker's certificate, for the names devices use to reach it.
    IssueServer {
        #[arg(long = "host", value_name = "NAME", required = true, num_args = 1..)]
        hosts: Vec<String>,
        #[arg(long = "ip", value_name = "ADDR", num_args = 1..)]
        ips: Vec<IpAddr>,
        #[arg(long, default_value_t = pki::SERVER_DAYS)]
        days: i64,
    },
    /// An operator's certificate and key (one per person or monitoring tool).
    IssueOperator {
        #[arg(long)]
        name: String,
        /// Where the bundle goes (default: DIR/operators/NAME).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = pki::OPERATOR_DAYS)]
        days: i64,
        #[arg(long)]
        reuse_revoked: bool,
    },
    /// A device's certificate, key and agent.toml, ready for /etc/grappe-agent/.
    IssueDevice {
        #[command(flatten)]
        device: DeviceArgs,
        /// The board's serial number, kept in the certificate.
        #[arg(long = "serial", value_name = "BOARD_SERIAL")]
        board_serial: Option<String>,
    },
    /// Signs a CSR made on the device (`openssl req`): the key never leaves the device.
    SignCsr {
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        #[command(flatten)]
        device: DeviceArgs,
        #[arg(long = "serial", value_name = "BOARD_SERIAL")]
        board_serial: Option<String>,
    },
    /// Every certificate issued: identity, serial, expiry, state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A new certificate for an identity (the old one stays valid until it expires).
    #[command(group(ArgGroup::new("who").required(true).args(["device", "operator", "server"])))]
    Renew {
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        operator: Option<String>,
        #[arg(long)]
        server: bool,
        /// For a device: sign this CSR instead of making a new key.
        #[arg(long, value_name = "FILE", requires = "device")]
        csr: Option<PathBuf>,
        /// Where the new bundle goes (device and operator).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[arg(long)]
        days: Option<i64>,
        #[arg(long, value_name = "URL")]
        broker_url: Option<String>,
    },
    /// Revokes an identity: its certificates go on the CRL, its ACL block goes away.
    #[command(group(ArgGroup::new("who").required(true).args(["device", "operator"])))]
    Revoke {
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        operator: Option<String>,
        #[arg(long, default_value = "unspecified", value_parser = Reason::NAMES)]
        reason: String,
    },
}

#[derive(Args)]
struct DeviceArgs {
    #[arg(long)]
    structure: String,
    #[arg(long)]
    device: String,
    /// Where the bundle goes (an empty or new directory).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The broker url for agent.toml (default: mqtts://BROKER-HOST:PORT from the PKI).
    #[arg(long, value_name = "URL")]
    broker_url: Option<String>,
    #[arg(long, default_value_t = pki::DEVICE_DAYS)]
    days: i64,
    /// Issue again an id whose certificates were revoked.
    #[arg(long)]
    reuse_revoked: bool,
}

/// Exit status for an invalid configuration, as for the agent.
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    // One malloc arena per core, glibc's default, fragments the heap when worker threads
    // make what the main thread keeps (a proof's rows): at 5,000 devices the peak RSS is
    // 13 MiB lower with one arena (benches/fleet_proof.rs), and the threads' small
    // allocations go through their own caches anyway.
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets a tunable; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Action::Status {
            view,
            structure,
            problems,
            json,
            csv,
        } => {
            return run_status(
                view,
                Filter {
                    structure,
                    problems,
                },
                json,
                csv,
            )
        }
        Action::Check { view, structure } => return run_check(view, structure),
        Action::Device { view, id, json } => return run_device(view, &id, json),
        Action::Cmd {
            view,
            command,
            device,
            structure,
            all: _,
        } => {
            let target = match (device, structure) {
                (Some(d), _) => Target::Device(d),
                (None, Some(s)) => Target::Structure(s),
                (None, None) => Target::All,
            };
            let command = match command {
                CommandName::Refresh => Command::Refresh,
                CommandName::Ping => Command::Ping,
                CommandName::UpdateCheck => Command::UpdateCheck,
            };
            return run_cmd(view, command, &target);
        }
        Action::Proof {
            view,
            period,
            from,
            to,
            structure,
            purchases,
            lang,
            generated_at,
            out,
        } => {
            let months = match (period, from, to) {
                (Some(p), _, _) => proof::model::months(&p, &p),
                (None, Some(f), Some(t)) => proof::model::months(&f, &t),
                _ => Err("give --period, or --from and --to".into()),
            };
            let months = match months {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("grappe-fleet: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            let lang = match lang {
                ProofLang::Fr => proof::model::Lang::Fr,
                ProofLang::En => proof::model::Lang::En,
            };
            return run_proof(
                view,
                proof::Options {
                    months,
                    structure,
                    purchases,
                    lang,
                    out,
                    generated_at: generated_at.unwrap_or_else(SystemTime::now),
                    timeout: Duration::ZERO,
                },
            );
        }
        Action::Verify { dir, ca } => {
            return match proof::verify::verify(&dir, ca.as_deref()) {
                Ok(verdict) => {
                    print!("{}", verdict.text());
                    if verdict.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("grappe-fleet: verify {}: {e:#}", dir.display());
                    ExitCode::FAILURE
                }
            };
        }
        Action::Pki { dir, command } => run_pki(&dir, command),
        Action::Release { command } => run_release(command),
        Action::BrokerConfig {
            pki,
            port,
            operator_port,
            out,
            install_dir,
            bind,
        } => (|| {
            let mut pki = Pki::open(&pki)?;
            let operator_port = match operator_port {
                Some(p) => p,
                None => port.checked_add(1).context(
                    "--port 65535 leaves no room for the operators' port: give --operator-port",
                )?,
            };
            let files = broker_config::write(
                &mut pki,
                BrokerSettings {
                    out: out.clone(),
                    port,
                    operator_port,
                    install_dir,
                    bind,
                },
            )?;
            for f in files {
                println!("wrote {}", f.display());
            }
            println!("install: see the README (Broker); devices on port {port}, operators on {operator_port}");
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grappe-fleet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_release(command: ReleaseCmd) -> Result<()> {
    match command {
        ReleaseCmd::Keygen { out } => {
            let pair = release::keygen(&out)?;
            println!("secret key: {}", pair.key.display());
            println!(
                "public key: {} ({})",
                pair.public.display(),
                pair.public_base64
            );
            println!(
                "{} goes to {} on every device (agent.toml [update] public_key); {} signs releases: keep it offline, backed up, mode 0600",
                pair.public.display(),
                release::DEVICE_PUB_PATH,
                pair.key.display()
            );
        }
        ReleaseCmd::Sign {
            key,
            version,
            rollout_percent,
            out,
            binaries,
        } => {
            let binaries = if binaries.is_empty() {
                release::default_binaries(Path::new("target"))?
            } else {
                binaries
            };
            let signed = release::sign(&release::SignRequest {
                key,
                version: version.clone(),
                rollout_percent,
                out: out.clone(),
                binaries,
            })?;
            for w in &signed.warnings {
                eprintln!("grappe-fleet: warning: {w}");
            }
            for a in &signed.assets {
                println!("{}  {} bytes  {}", a.name, a.size, a.digest);
            }
            println!(
                "manifest: {} (version {version}, {})",
                signed.manifest.display(),
                match rollout_percent {
                    Some(p) => format!("{p}% of devices"),
                    None => "every device".into(),
                }
            );
            println!(
                "next: copy {} to the file server, watch `grappe-fleet status`, then widen with `grappe-fleet release rollout --out {} --version {version} --percent N`",
                out.display(),
                out.display()
            );
        }
        ReleaseCmd::Rollout {
            out,
            version,
            percent,
        } => {
            let before = release::set_rollout(&out, &version, percent)?;
            println!(
                "{version}: {} -> {percent}% of devices in {}; copy it to the file server",
                before.map_or("every device".into(), |p| format!("{p}%")),
                out.join(release::MANIFEST).display()
            );
        }
    }
    Ok(())
}

/// `proof`: reads the broker, writes the proof, says what it holds.
fn run_proof(view: ViewArgs, mut options: proof::Options) -> ExitCode {
    let config = match load_config(&view) {
        Ok(c) => c,
        Err(code) => return code,
    };
    options.timeout = view.timeout;
    let made = block_on(proof::make(&config, &options));
    match made {
        Ok(made) => {
            for u in &made.unreadable {
                eprintln!("grappe-fleet: skipped, not a usage report: {u}");
            }
            println!(
                "proof for {} written to {}: {} structure(s), {} device(s), {} monthly report(s): {} signed, {} unsigned, {} with an invalid signature",
                options.months.join(", "),
                options.out.display(),
                made.structures,
                made.devices,
                made.reports,
                made.signed,
                made.unsigned,
                made.invalid
            );
            println!("check it: grappe-fleet verify {}", options.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("grappe-fleet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads fleet.toml; the error (exit 2) names the key at fault.
fn load_config(view: &ViewArgs) -> Result<FleetConfig, ExitCode> {
    let path = fleet_config::resolve_path(view.config.as_deref());
    FleetConfig::load(&path).map_err(|e| {
        eprintln!("grappe-fleet: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

/// Runs one async view on a single-threaded runtime (one connection, nothing to share).
fn block_on<T>(future: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(future)
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("grappe-fleet: {e:#}");
    ExitCode::FAILURE
}

fn run_status(view: ViewArgs, filter: Filter, json: bool, csv: bool) -> ExitCode {
    let config = match load_config(&view) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fleet = match block_on(fleet_run::read_fleet(
        &config,
        filter.structure.as_deref(),
        view.timeout,
    )) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let report = status::build(&fleet, &config, SystemTime::now(), &filter);
    let written = if csv {
        report
            .csv()
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(std::io::Write::write_all(&mut std::io::stdout(), &bytes)?))
    } else if json {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        report
            .write_json(&mut out)
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                std::io::Write::write_all(&mut out, b"\n")?;
                Ok(std::io::Write::flush(&mut out)?)
            })
    } else {
        print!("{}", report.table());
        Ok(())
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn run_check(view: ViewArgs, structure: Option<String>) -> ExitCode {
    const UNKNOWN: u8 = 3;
    let unknown = |why: String| {
        print!("{}", status::nagios_unknown(&why));
        ExitCode::from(UNKNOWN)
    };
    let path = fleet_config::resolve_path(view.config.as_deref());
    let config = match FleetConfig::load(&path) {
        Ok(c) => c,
        Err(e) => return unknown(e.to_string()),
    };
    let fleet = match block_on(fleet_run::read_fleet(
        &config,
        structure.as_deref(),
        view.timeout,
    )) {
        Ok(f) => f,
        Err(e) => return unknown(format!("{e:#}")),
    };
    let filter = Filter {
        structure,
        problems: false,
    };
    let report = status::build(&fleet, &config, SystemTime::now(), &filter);
    if report.rows().next().is_none() {
        return unknown(format!(
            "no device of grappe {:?} on the broker or in the PKI register",
            config.grappe
        ));
    }
    print!("{}", report.nagios());
    ExitCode::from(status::exit_code(report.level()))
}

fn run_device(view: ViewArgs, id: &str, json: bool) -> ExitCode {
    let config = match load_config(&view) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (retained, fleet) = match block_on(fleet_run::read_device(&config, id, view.timeout)) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&retained.json()).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let now = SystemTime::now();
    let report = status::build(&fleet, &config, now, &Filter::default());
    let Some((_, row)) = report.rows().next() else {
        return fail(anyhow::anyhow!("no view of {id}"));
    };
    print!(
        "{}",
        retained.text(&report.device_summary(row), row.device, now)
    );
    ExitCode::SUCCESS
}

fn run_cmd(view: ViewArgs, command: Command, target: &Target) -> ExitCode {
    let config = match load_config(&view) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match block_on(fleet_run::send_command(
        &config,
        command,
        target,
        view.timeout,
    )) {
        Ok((text, all_ok)) => {
            print!("{text}");
            if all_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => fail(e),
    }
}

fn run_pki(dir: &Path, command: PkiCmd) -> Result<()> {
    if let PkiCmd::Init { grappe } = &command {
        let pki = Pki::init(dir, grappe)?;
        println!(
            "grappe {grappe}: CAs created in {} ({}, {}); next: pki issue-server --host BROKER-NAME",
            dir.display(),
            pki.ca_path(Ca::Grappe).display(),
            pki.ca_path(Ca::Operators).display()
        );
        return Ok(());
    }
    let mut pki = Pki::open(dir)?;
    if let PkiCmd::List { json } = command {
        return list(&pki, json);
    }
    match command {
        PkiCmd::Init { .. } | PkiCmd::List { .. } => unreachable!("handled above"),
        PkiCmd::IssueServer { hosts, ips, days } => {
            let issued = pki.issue_server(&hosts, &ips, days)?;
            let (cert, key) = pki.server_files();
            println!(
                "broker certificate for {} (serial {}, valid until {}): {} and {}",
                issued.hosts.join(", "),
                issued.serial,
                issued.not_after,
                cert.display(),
                key.display()
            );
        }
        PkiCmd::IssueOperator {
            name,
            out,
            days,
            reuse_revoked,
        } => {
            let out = out.unwrap_or_else(|| dir.join("operators").join(&name));
            prepare_out(&out, "operator")?;
            let fresh = pki.issue_operator(&name, days, reuse_revoked)?;
            write_operator_bundle(&pki, &out, &fresh)?;
        }
        PkiCmd::IssueDevice {
            device,
            board_serial,
        } => issue_device(
            &mut pki,
            &device,
            board_serial.as_deref(),
            KeySource::Generate,
        )?,
        PkiCmd::SignCsr {
            csr,
            device,
            board_serial,
        } => {
            let pem = std::fs::read_to_string(&csr)
                .with_context(|| format!("cannot read the CSR {}", csr.display()))?;
            issue_device(
                &mut pki,
                &device,
                board_serial.as_deref(),
                KeySource::Csr(pem),
            )?
        }
        PkiCmd::Renew {
            device,
            operator,
            server: _,
            csr,
            out,
            days,
            broker_url,
        } => {
            let (role, id) = match (&device, &operator) {
                (Some(d), _) => (Role::Device, Some(d.as_str())),
                (_, Some(o)) => (Role::Operator, Some(o.as_str())),
                _ => (Role::Server, None),
            };
            if role != Role::Server {
                match &out {
                    Some(out) => prepare_out(out, role.name())?,
                    None => bail!("give --out DIR: where the new {} bundle goes", role.name()),
                }
            }
            let key = match &csr {
                Some(path) => KeySource::Csr(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the CSR {}", path.display()))?,
                ),
                None => KeySource::Generate,
            };
            let fresh = pki.renew(role, id, key, days)?;
            match (role, out) {
                (Role::Device, Some(out)) => write_device_bundle(&pki, &out, &fresh, broker_url.as_deref())?,
                (Role::Operator, Some(out)) => write_operator_bundle(&pki, &out, &fresh)?,
                _ => println!(
                    "broker certificate renewed (serial {}, valid until {}): restart mosquitto once installed",
                    fresh.issued.serial, fresh.issued.not_after
                ),
            }
        }
        PkiCmd::Revoke {
            device,
            operator,
            reason,
        } => {
            let (role, id) = match (device, operator) {
                (Some(d), _) => (Role::Device, d),
                (_, Some(o)) => (Role::Operator, o),
                _ => unreachable!("clap requires one"),
            };
            let reason = Reason::from_name(&reason).expect("clap checked the name");
            for c in pki.revoke(role, &id, reason)? {
                println!("revoked {} {} (serial {})", role.name(), c.id, c.serial);
            }
            println!("CRL updated: {}", pki.crl_path(role.ca()).display());
        }
    }
    if let Some(out) = broker_config::refresh(&pki)? {
        println!(
            "broker configuration rewritten in {}: install it, then `systemctl reload mosquitto` (ACL) or, for a new CRL or certificate, `systemctl restart mosquitto`",
            out.display()
        );
    }
    Ok(())
}

fn issue_device(
    pki: &mut Pki,
    args: &DeviceArgs,
    board_serial: Option<&str>,
    key: KeySource,
) -> Result<()> {
    prepare_out(&args.out, "device")?;
    let fresh = pki.issue_device(
        &DeviceRequest {
            structure: &args.structure,
            device: &args.device,
            board_serial,
            days: args.days,
            reuse_revoked: args.reuse_revoked,
        },
        key,
    )?;
    write_device_bundle(pki, &args.out, &fresh, args.broker_url.as_deref())
}

/// An output directory for a bundle: created 0700, and never one that already holds a
/// bundle (a key overwritten by mistake cannot be got back).
fn prepare_out(out: &Path, what: &str) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    for name in [format!("{what}.pem"), format!("{what}.key")] {
        if out.join(&name).exists() {
            bail!(
                "{} already holds {name}; give an empty --out directory",
                out.display()
            );
        }
    }
    Ok(())
}

/// ca.pem, device.pem, device.key (unless the key stayed on the device) and agent.toml.
fn write_device_bundle(
    pki: &Pki,
    out: &Path,
    fresh: &Fresh,
    broker_url: Option<&str>,
) -> Result<()> {
    let url = match broker_url {
        Some(url) => url.to_string(),
        None => {
            let server = pki.server().with_context(|| {
                "the PKI has no broker certificate, so the broker url is unknown: give --broker-url mqtts://HOST:PORT or issue the server certificate first"
            })?;
            let port = pki.broker_settings().map_or(8883, |s| s.port);
            format!("mqtts://{}:{port}", server.id)
        }
    };
    let issued = &fresh.issued;
    let toml = agent_toml(
        pki.grappe(),
        issued.structure.as_deref().unwrap_or_default(),
        &issued.id,
        &url,
    );
    fsutil::write_atomic(&out.join("ca.pem"), pki.ca_pem(Ca::Grappe)?.as_bytes())?;
    fsutil::write_atomic(&out.join("device.pem"), fresh.cert_pem.as_bytes())?;
    if let Some(key) = &fresh.key_pem {
        fsutil::write_atomic_private(&out.join("device.key"), key.as_bytes())?;
    }
    fsutil::write_atomic(&out.join("agent.toml"), toml.as_bytes())?;
    println!(
        "device {} of structure {} (serial {}, valid until {}): bundle in {}",
        issued.id,
        issued.structure.as_deref().unwrap_or_default(),
        issued.serial,
        issued.not_after,
        out.display()
    );
    println!(
        "install on the device: install -m 0644 {o}/ca.pem {o}/device.pem {o}/agent.toml /etc/grappe-agent/{key}",
        o = out.display(),
        key = if fresh.key_pem.is_some() {
            format!(" && install -m 0600 {}/device.key /etc/grappe-agent/", out.display())
        } else {
            " (device.key: the one made with the CSR)".into()
        }
    );
    Ok(())
}

/// ca.pem (both CAs: the broker's issuer, and the operators' for `check`), operator.pem,
/// operator.key.
fn write_operator_bundle(pki: &Pki, out: &Path, fresh: &Fresh) -> Result<()> {
    let cas = pki.ca_pem(Ca::Grappe)? + &pki.ca_pem(Ca::Operators)?;
    fsutil::write_atomic(&out.join("ca.pem"), cas.as_bytes())?;
    fsutil::write_atomic(&out.join("operator.pem"), fresh.cert_pem.as_bytes())?;
    if let Some(key) = &fresh.key_pem {
        fsutil::write_atomic_private(&out.join("operator.key"), key.as_bytes())?;
    }
    println!(
        "operator {} (serial {}, valid until {}): bundle in {}",
        fresh.issued.id,
        fresh.issued.serial,
        fresh.issued.not_after,
        out.display()
    );
    Ok(())
}

/// The packaged agent.toml with this device's identity and broker filled in: every other
/// setting and comment stays as shipped.
fn agent_toml(grappe: &str, structure: &str, device: &str, url: &str) -> String {
    const TEMPLATE: &str = include_str!("../../config/agent.toml");
    let mut section = "";
    let mut out = String::with_capacity(TEMPLATE.len());
    for line in TEMPLATE.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            section = trimmed;
        }
        let key = trimmed.split_once('=').map(|(k, _)| k.trim());
        let value = match (section, key) {
            ("[identity]", Some("grappe")) => Some(grappe),
            ("[identity]", Some("structure")) => Some(structure),
            ("[identity]", Some("device")) => Some(device),
            ("[broker]", Some("url")) => Some(url),
            _ => None,
        };
        match value {
            Some(v) if !trimmed.starts_with('#') => out.push_str(&format!(
                "{} = {}\n",
                key.unwrap_or_default(),
                toml_string(v)
            )),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn list(pki: &Pki, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(pki.certificates())?);
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc();
    println!(
        "{:<9} {:<24} {:<24} {:<32} {:<20} STATE",
        "ROLE", "ID", "STRUCTURE", "SERIAL", "NOT AFTER"
    );
    for c in pki.certificates() {
        println!(
            "{:<9} {:<24} {:<24} {:<32} {:<20} {}",
            c.role.name(),
            c.id,
            c.structure.as_deref().unwrap_or("-"),
            c.serial,
            c.not_after,
            c.state(now)
        );
    }
    Ok(())
}
