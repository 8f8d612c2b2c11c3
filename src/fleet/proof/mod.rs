//! `grappe-fleet proof` and `verify`: the equipment annex of a funding claim, signed by the
//! devices themselves, and its offline check.
//!
//! `proof` reads the retained `usage/{month}` report of every device for the period (the
//! device's own signed record: its figures and how it stood at the month's end), keeps the
//! exact bytes of each as evidence, and writes from them:
//!
//! ```text
//! DIR/equipment.csv     one row per device and month (spreadsheet, ';', UTF-8 BOM)
//! DIR/equipment.json    everything, with the parameters the figures were judged with
//! DIR/equipment.html    printable on A4: a summary page, then one page per structure
//! DIR/evidence/         grappe-ca.pem, and per device its usage-MONTH.json as received
//!                       and its certificate(s) cert-SHA256PREFIX.pem
//! DIR/SHA256SUMS        over every other file (`sha256sum -c SHA256SUMS` reads it)
//! ```
//!
//! The same retained state and options give the same bytes (`--generated-at` fixes the
//! one date that would differ), so an archived proof can be made again and compared.
//! [`verify`] needs nothing but the directory: see its documentation.

pub mod model;
pub mod purchases;
pub mod render;
pub mod verify;

use super::config::FleetConfig;
use super::mqtt::Operator;
pub(crate) use super::sha256_file;
use crate::wire::signed::{sha256_hex, Opened};
use crate::wire::{Identity, Topic};
use anyhow::{bail, Context, Result};
use model::{Document, Lang, Parameters, Row, Signature, StructureInfo};
use rayon::iter::{IntoParallelRefIterator as _, ParallelBridge as _, ParallelIterator as _};
use rustls::pki_types::pem::PemObject;
use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// What `proof` is asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub months: Vec<String>,
    pub structure: Option<String>,
    pub purchases: Option<PathBuf>,
    pub lang: Lang,
    pub out: PathBuf,
    pub generated_at: SystemTime,
    pub timeout: Duration,
}

/// What `proof` wrote, for its closing line.
#[derive(Debug)]
pub struct Made {
    pub structures: usize,
    pub devices: usize,
    pub reports: usize,
    pub signed: usize,
    pub unsigned: usize,
    pub invalid: usize,
    /// Retained messages that are not a usage report at all (topic: why).
    pub unreadable: Vec<String>,
}

pub const CA_FILE: &str = "evidence/grappe-ca.pem";
pub const SUMS_FILE: &str = "SHA256SUMS";

/// Makes the proof in `opts.out` (which must not exist, or be empty).
pub async fn make(config: &FleetConfig, opts: &Options) -> Result<Made> {
    if let Some(s) = &opts.structure {
        if !crate::wire::is_valid_name(s) {
            bail!("{s:?} is not a structure id: {}", crate::wire::VALID_NAME);
        }
    }
    let purchases = match &opts.purchases {
        Some(path) => Some(purchases::read(path).map_err(|e| anyhow::anyhow!("--purchases {e}"))?),
        None => None,
    };
    let Some(tls) = &config.broker.tls else {
        bail!("a proof needs the grappe CA to check the devices' signatures: use mqtts:// with [broker] ca in {}", config.path.display());
    };
    let ca_pem = std::fs::read(&tls.ca_file)
        .with_context(|| format!("cannot read the grappe CA {}", tls.ca_file.display()))?;
    let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(&ca_pem)
        .with_context(|| format!("{} holds no certificate", tls.ca_file.display()))?;
    let anchors = tls.roots.roots.clone();
    prepare_out(&opts.out)?;

    let mut operator =
        Operator::connect(&config.broker, &config.grappe, super::run::CONNECT_TIMEOUT).await?;
    let every_device = Identity::wildcard(&config.grappe, opts.structure.as_deref(), None);
    let filters: Vec<String> = opts
        .months
        .iter()
        .map(|m| Topic::UsageMonth(m.clone()).of(&every_device))
        .collect();
    // The broker's messages are checked and kept on every core (the signature checks are
    // most of a proof's work) while more arrive. The queue is short: when the checks are
    // behind, the receiving waits, and the broker with it, so memory stays bounded.
    let (queue, received) = std::sync::mpsc::sync_channel::<(String, Vec<u8>)>(256);
    let intake = Intake {
        out: opts.out.clone(),
        checker: model::Checker::new(anchors),
        certificates: Mutex::default(),
    };
    let checking = std::thread::spawn(move || {
        received
            .into_iter()
            .par_bridge()
            .map(|(topic, message)| intake.take(&topic, &message))
            .collect::<Vec<_>>()
    });
    operator
        .read_retained(&filters, opts.timeout, |topic, payload| {
            // A closed queue means the checking thread is gone: join() below says why.
            if !payload.is_empty() {
                let _ = queue.send((topic.to_owned(), payload.to_vec()));
            }
        })
        .await?;
    operator.disconnect().await;
    drop(queue);
    let taken = checking
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let (mut rows, mut unreadable) = (Vec::new(), Vec::new());
    for t in taken {
        match t? {
            Taken::Row(row) => rows.push(row),
            Taken::Unreadable(why) => unreadable.push(why),
        }
    }
    unreadable.sort();
    write_file(&opts.out, CA_FILE, &ca_pem)?;
    let parameters = Parameters {
        grappe: config.grappe.clone(),
        months: opts.months.clone(),
        structure: opts.structure.clone(),
        lang: opts.lang,
        generated_at: model::generated_at(opts.generated_at),
        generator: format!("grappe-fleet {}", env!("CARGO_PKG_VERSION")),
        ca_sha256: sha256_hex(&ca_der),
        min_posture_score: config.thresholds.proof_min_posture_score,
        min_days_active: config.thresholds.proof_min_days_active,
        structures: config
            .structures
            .iter()
            .map(|s| StructureInfo {
                id: s.id.clone(),
                name: s.name.clone(),
                finess: s.finess.clone(),
            })
            .collect(),
        purchases,
    };
    let doc = Document::build(parameters, rows);
    write_documents(&opts.out, &doc)?;
    write_sums(&opts.out)?;
    let rows = || {
        doc.structures
            .iter()
            .flat_map(|s| &s.devices)
            .flat_map(|d| &d.months)
    };
    let count = |f: fn(&Signature) -> bool| rows().filter(|r| f(&r.signature)).count();
    Ok(Made {
        structures: doc.structures.len(),
        devices: doc.structures.iter().map(|s| s.devices.len()).sum(),
        reports: rows().count(),
        signed: count(|s| matches!(s, Signature::Signed { .. })),
        unsigned: count(|s| *s == Signature::Unsigned),
        invalid: count(|s| matches!(s, Signature::Invalid { .. })),
        unreadable,
    })
}

/// The output directory: created, or an existing empty one; never over a previous proof.
fn prepare_out(out: &Path) -> Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: give a new directory (a proof is never written over another)",
                    out.display()
                );
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", out.display())),
    }
}

/// What is shared by the threads that check and keep the retained messages.
struct Intake {
    out: PathBuf,
    checker: model::Checker,
    /// The certificate files written so far (each once).
    certificates: Mutex<HashSet<String>>,
}

/// One retained message, checked.
enum Taken {
    /// A usage report, kept.
    Row(Box<Row>),
    /// Not a usage report at all (topic: why).
    Unreadable(String),
}

impl Intake {
    /// Checks a message and keeps its exact bytes under `evidence/`, with its certificate
    /// the first time it is seen. An error is one that stops the proof (a file that cannot
    /// be written).
    fn take(&self, topic: &str, message: &[u8]) -> Result<Taken> {
        let row = match Topic::parse(topic) {
            Some((who, Topic::UsageMonth(month))) => {
                model::row_of(&who, &month, message, &self.checker)
            }
            _ => Err("not a usage topic".into()),
        };
        let row = match row {
            Ok(row) => row,
            Err(e) => return Ok(Taken::Unreadable(format!("{topic}: {e}"))),
        };
        write_file(&self.out, &row.evidence(), message)?;
        let first_time = |path: &String| {
            let mut written = self.certificates.lock().unwrap_or_else(|p| p.into_inner());
            written.insert(path.clone())
        };
        if let Some(path) = row.certificate().filter(first_time) {
            if let Ok(Opened::Signed(signed)) = Opened::read(message) {
                let der = signed.certificate().map_err(anyhow::Error::msg)?;
                write_file(&self.out, &path, certificate_pem(der).as_bytes())?;
            }
        }
        Ok(Taken::Row(Box::new(row)))
    }
}

/// A certificate as PEM, as openssl writes it (64 columns, `\n`).
fn certificate_pem(der: Vec<u8>) -> String {
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new("CERTIFICATE", der), config)
}

fn write_file(out: &Path, relative: &str, bytes: &[u8]) -> Result<()> {
    let path = out.join(relative);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn write_documents(out: &Path, doc: &Document) -> Result<()> {
    let create = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
        let path = out.join(name);
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(std::io::BufWriter::new(file))
    };
    let written = |name: &str, r: std::io::Result<()>| {
        r.with_context(|| format!("cannot write {}", out.join(name).display()))
    };
    let mut csv = create("equipment.csv")?;
    written(
        "equipment.csv",
        render::write_csv(doc, &mut csv).and_then(|_| csv.flush()),
    )?;
    let mut json = create("equipment.json")?;
    written(
        "equipment.json",
        render::write_json(doc, &mut json).and_then(|_| json.flush()),
    )?;
    let mut html = create("equipment.html")?;
    written(
        "equipment.html",
        render::write_html(doc, &mut html).and_then(|_| html.flush()),
    )
}

/// Every file of the proof but SHA256SUMS itself, relative and sorted.
pub fn files_of(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in
            std::fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))?
        {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                if rel != SUMS_FILE {
                    out.push(rel);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// SHA256SUMS over every file in `out`, as written to the disk (read back, on every core).
fn write_sums(out: &Path) -> Result<()> {
    let files = files_of(out)?;
    let hashes: Vec<String> = files
        .par_iter()
        .map(|rel| sha256_file(&out.join(rel)))
        .collect::<Result<_>>()?;
    let text: String = files
        .iter()
        .zip(hashes)
        .map(|(rel, hash)| format!("{hash}  {rel}\n"))
        .collect();
    write_file(out, SUMS_FILE, text.as_bytes())
}
