//! What an equipment proof says, built the same way from the broker (by `proof`) and from
//! an archived proof's evidence (by `verify`), so that the two can be compared figure by
//! figure. Pure: no I/O, the time given.
//!
//! - [`Row`]: one device's month, from its usage report alone (signed by the device);
//! - [`Document`]: the rows grouped by structure, the purchase list matched against them,
//!   the device totals over the period and the two milestones of each structure;
//! - [`Document::figures`]: every figure the documents show, by a stable key; the HTML
//!   marks each figure with its key (`data-k`), and `verify` recomputes them all.

use super::purchases::Purchase;
use crate::wire::posture::{BaselineSummary, BaselineTally};
use crate::wire::signed::{check_certificate, Invalid, Opened, Signed, Signer};
use crate::wire::usage::{self as period, UsageMonth};
use crate::wire::{Envelope, Identity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::SystemTime;
use time::Date;

/// The most months one proof covers (two years of tranches).
pub const MAX_MONTHS: usize = 24;

/// The months `from` to `to` ("YYYY-MM"), both included.
pub fn months(from: &str, to: &str) -> Result<Vec<String>, String> {
    let parse = |m: &str| {
        period::parse_period(m)
            .ok_or_else(|| format!("{m:?} is not a month: write YYYY-MM, e.g. 2026-11"))
    };
    let (mut y, mut m) = parse(from)?;
    let end = parse(to)?;
    if end < (y, m) {
        return Err(format!("--to {to} is before --from {from}"));
    }
    let mut out = Vec::new();
    while (y, m) <= end {
        out.push(period::period(y, m));
        if out.len() > MAX_MONTHS {
            return Err(format!(
                "{from} to {to} is more than {MAX_MONTHS} months: make one proof per period"
            ));
        }
        (y, m) = if m == time::Month::December {
            (y + 1, m.next())
        } else {
            (y, m.next())
        };
    }
    Ok(out)
}

/// Whether a report's figures are the device's own word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Signature {
    /// Signed by the device's certificate (SHA-256 given), issued by the grappe CA to
    /// this device.
    Signed { cert_sha256: String },
    /// An earlier agent's report: no signature.
    Unsigned,
    /// Signed, but the signature or the certificate does not check out: the figures are
    /// shown and never counted.
    Invalid { reason: String },
}

impl Signature {
    pub fn counts(&self) -> bool {
        !matches!(self, Signature::Invalid { .. })
    }
}

/// When a device was seen: in a month (a row), or over the period (its totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Seen {
    /// The oldest day the device's ledger holds: first seen (or a bound on it).
    #[serde(with = "period::ymd_opt")]
    pub first_seen: Option<Date>,
    /// First and last day with the device on.
    #[serde(with = "period::ymd_opt")]
    pub first_day: Option<Date>,
    #[serde(with = "period::ymd_opt")]
    pub last_day: Option<Date>,
}

impl Seen {
    /// Both together: the earlier first days, the later last day.
    fn and(self, other: Seen) -> Seen {
        let earlier = |a: Option<Date>, b: Option<Date>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Seen {
            first_seen: earlier(self.first_seen, other.first_seen),
            first_day: earlier(self.first_day, other.first_day),
            last_day: self.last_day.max(other.last_day),
        }
    }
}

/// One device's month, as its usage report says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub structure: String,
    pub device: String,
    pub month: String,
    pub signature: Signature,
    pub agent_version: String,
    pub collected_at: String,
    pub board_vendor: Option<String>,
    pub board_model: Option<String>,
    pub board_serial: Option<String>,
    #[serde(flatten)]
    pub seen: Seen,
    pub days_on: u32,
    pub days_active: u32,
    pub uptime_s: u64,
    pub active_s: u64,
    pub boots: u32,
    pub active_rule: Option<String>,
    pub posture_score: Option<u8>,
    pub failing_critical: Vec<String>,
    pub failing_high: Vec<String>,
    /// The ESSMS baseline's verdicts at the month's end; empty from an older agent.
    pub baseline: Vec<BaselineSummary>,
    pub security_updates: Option<usize>,
    /// The days of the month with active time (bit 0 is the 1st), for the chart.
    #[serde(skip)]
    pub active_days: u32,
}

impl Row {
    /// Where the report is in the proof, relative to its directory.
    pub fn evidence(&self) -> String {
        evidence_path(&self.structure, &self.device, &self.month)
    }

    /// The certificate's file beside it, when signed by the device.
    pub fn certificate(&self) -> Option<String> {
        match &self.signature {
            Signature::Signed { cert_sha256 } => {
                Some(certificate_path(&self.structure, &self.device, cert_sha256))
            }
            _ => None,
        }
    }
}

/// The evidence file of a device's month, relative to the proof directory.
pub fn evidence_path(structure: &str, device: &str, month: &str) -> String {
    format!("{}/usage-{month}.json", evidence_dir(structure, device))
}

/// A device's directory in the proof.
pub fn evidence_dir(structure: &str, device: &str) -> String {
    format!("evidence/{structure}/{device}")
}

/// The certificate file of a device, by the certificate's SHA-256.
pub fn certificate_path(structure: &str, device: &str, cert_sha256: &str) -> String {
    format!(
        "{}/cert-{}.pem",
        evidence_dir(structure, device),
        &cert_sha256[..16.min(cert_sha256.len())]
    )
}

/// Checks the devices' signatures against the grappe CA, from any number of threads. A
/// device signs a report a month with one certificate: its chain is checked once, at the
/// first report, and again only for a report made outside the validity of that first check.
pub struct Checker {
    anchors: Vec<rustls::pki_types::TrustAnchor<'static>>,
    checked: Mutex<Checked>,
}

/// By certificate SHA-256: the certificate's validity, and what its check said.
type Checked = HashMap<String, (Validity, Result<Signer, Invalid>)>;

/// A certificate's notBefore and notAfter.
type Validity = (SystemTime, SystemTime);

impl Checker {
    pub fn new(anchors: Vec<rustls::pki_types::TrustAnchor<'static>>) -> Checker {
        Checker {
            anchors,
            checked: Mutex::default(),
        }
    }

    /// The signature over `report`, then its certificate as of `at`.
    fn check(&self, signed: &Signed, report: &[u8], at: SystemTime) -> Result<Signer, Invalid> {
        let cert = signed.check_signature(report)?;
        let sha = crate::wire::signed::sha256_hex(&cert);
        let known = self.cache().get(&sha).cloned();
        if let Some(((from, until), result)) = known {
            if (from..=until).contains(&at) {
                return result;
            }
        }
        // Two threads may check the same new certificate at once: both get the same answer.
        let result = check_certificate(&cert, &self.anchors, at);
        if let Some(validity) =
            validity(&cert).filter(|(from, until)| (*from..=*until).contains(&at))
        {
            self.cache().insert(sha, (validity, result.clone()));
        }
        result
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Checked> {
        // A panic elsewhere cannot leave the map half-written: insert is all or nothing.
        self.checked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// When a certificate is valid (its notBefore and notAfter).
fn validity(cert: &[u8]) -> Option<Validity> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(cert).ok()?;
    let time = |t: &x509_parser::time::ASN1Time| {
        let secs = u64::try_from(t.timestamp()).ok()?;
        Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    };
    Some((
        time(&cert.validity().not_before)?,
        time(&cert.validity().not_after)?,
    ))
}

/// Reads device `who`'s retained usage report of `month` (as received: the exact bytes),
/// checks its signature, and makes its row. An error says why the message cannot be read
/// at all (then it is not a figure of the proof).
pub fn row_of(
    who: &Identity,
    month: &str,
    message: &[u8],
    checker: &Checker,
) -> Result<Row, String> {
    // They become directory names under evidence/.
    if !crate::wire::is_valid_name(&who.structure) || !crate::wire::is_valid_name(&who.device) {
        return Err("the structure or device is not a valid id".into());
    }
    let opened = Opened::read(message)?;
    let report = opened.report()?;
    let env: Envelope<UsageMonth> =
        serde_json::from_slice(&report).map_err(|e| format!("not a usage report: {e}"))?;
    if env.structure != who.structure || env.device != who.device || env.grappe != who.grappe {
        return Err(format!(
            "the report says it is from {}/{}/{}, the topic says {}/{}/{}",
            env.grappe, env.structure, env.device, who.grappe, who.structure, who.device
        ));
    }
    if env.data.period != month {
        return Err(format!(
            "the report is for {}, the topic for {month}",
            env.data.period
        ));
    }
    let at = humantime::parse_rfc3339(&env.collected_at)
        .map_err(|e| format!("collected_at {:?}: {e}", env.collected_at))?;
    let signature = match &opened {
        Opened::Plain(_) => Signature::Unsigned,
        Opened::Signed(signed) => match checker.check(signed, &report, at) {
            Ok(signer) => match names_device(&signer, &env) {
                Ok(()) => Signature::Signed {
                    cert_sha256: signer.cert_sha256,
                },
                Err(reason) => Signature::Invalid { reason },
            },
            Err(e) => Signature::Invalid {
                reason: e.to_string(),
            },
        },
    };
    let data = env.data;
    let on: Vec<_> = data.days.iter().filter(|d| d.uptime_s > 0).collect();
    let equipment = data.equipment.unwrap_or_default();
    let board = equipment.board.unwrap_or_default();
    let (posture_score, failing_critical, failing_high, baseline) = match equipment.posture {
        Some(p) => (
            Some(p.score),
            p.failing_critical,
            p.failing_high,
            p.baseline,
        ),
        None => (None, Vec::new(), Vec::new(), Vec::new()),
    };
    Ok(Row {
        structure: env.structure,
        device: env.device,
        month: month.to_owned(),
        signature,
        agent_version: env.agent_version,
        collected_at: env.collected_at,
        board_vendor: board.vendor,
        board_model: board.model,
        board_serial: board.serial,
        seen: Seen {
            first_seen: data.first_day,
            first_day: on.first().map(|d| d.date),
            last_day: on.last().map(|d| d.date),
        },
        days_on: data.days_on,
        days_active: data.days_active,
        uptime_s: data.days.iter().map(|d| d.uptime_s).sum(),
        active_s: data.days.iter().map(|d| d.active_s).sum(),
        boots: data.days.iter().map(|d| d.boots).sum(),
        active_rule: data.active_rule,
        posture_score,
        failing_critical,
        failing_high,
        baseline,
        security_updates: equipment.patches.and_then(|p| p.security_count),
        active_days: data
            .days
            .iter()
            .filter(|d| d.active_s > 0)
            .fold(0, |days, d| days | 1 << (d.date.day() - 1)),
    })
}

/// The certificate must be the device's: its CN the device id, its OU (when present) the
/// structure, its O (when present) the grappe.
fn names_device<T>(signer: &Signer, env: &Envelope<T>) -> Result<(), String> {
    let s = &signer.subject;
    if s.common_name.as_deref() != Some(env.device.as_str()) {
        return Err(format!(
            "the certificate was issued to {:?}, not to device {:?}",
            s.common_name.as_deref().unwrap_or("(no name)"),
            env.device
        ));
    }
    if let Some(ou) = s
        .organizational_unit
        .as_deref()
        .filter(|ou| *ou != env.structure)
    {
        return Err(format!(
            "the certificate was issued for structure {ou:?}, not {:?}",
            env.structure
        ));
    }
    if let Some(o) = s.organization.as_deref().filter(|o| *o != env.grappe) {
        return Err(format!(
            "the certificate was issued for grappe {o:?}, not {:?}",
            env.grappe
        ));
    }
    Ok(())
}

/// What the proof was asked for, and the context the figures are judged in (from
/// fleet.toml): kept in `equipment.json`, so that `verify` judges alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameters {
    pub grappe: String,
    pub months: Vec<String>,
    /// Only this structure, when asked.
    pub structure: Option<String>,
    pub lang: Lang,
    pub generated_at: String,
    pub generator: String,
    /// SHA-256 of the grappe CA certificate (`evidence/grappe-ca.pem`).
    pub ca_sha256: String,
    pub min_posture_score: u8,
    pub min_days_active: u32,
    /// The grappe's structures as fleet.toml lists them.
    pub structures: Vec<StructureInfo>,
    /// The purchase list, when one was given.
    pub purchases: Option<Vec<Purchase>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Fr,
    En,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StructureInfo {
    pub id: String,
    pub name: String,
    pub finess: String,
}

/// One device over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceProof {
    pub device: String,
    /// Its directory in the proof: each month's report as `usage-MONTH.json`, and each
    /// certificate that signed one as `cert-SHA256PREFIX.pem`.
    pub evidence: String,
    /// The purchase matched to it (index in the list), if any.
    pub purchase: Option<usize>,
    /// By month; the rows that count (not an invalid signature) make the totals.
    pub months: Vec<Row>,
    pub totals: Totals,
}

/// A device's figures over the period, from its reports that count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    #[serde(flatten)]
    pub seen: Seen,
    pub days_on: u32,
    pub days_active: u32,
    pub active_s: u64,
    pub boots: u32,
    /// From the latest month's report.
    pub posture_score: Option<u8>,
    pub failing_critical: Vec<String>,
    pub failing_high: Vec<String>,
    pub baseline: Vec<BaselineSummary>,
    pub security_updates: Option<usize>,
    pub board_vendor: Option<String>,
    pub board_model: Option<String>,
    pub board_serial: Option<String>,
    /// Every month's report is signed by the device.
    pub all_signed: bool,
}

/// A milestone of a structure: met, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Milestone {
    pub met: bool,
    /// What stands in the way (or, when met, nothing).
    pub blocking: Vec<Blocker>,
}

/// One reason a milestone is not met.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocker {
    /// No device of the structure is funded (on the list, or seen without one).
    NoFundedDevice,
    NeverSeen {
        purchase: usize,
    },
    NoReport {
        device: String,
    },
    InvalidSignature {
        device: String,
    },
    PostureBelow {
        device: String,
        score: Option<u8>,
    },
    FailingCritical {
        device: String,
        checks: Vec<String>,
    },
    FewDaysActive {
        device: String,
        days: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StructureProof {
    pub id: String,
    pub name: Option<String>,
    pub finess: Option<String>,
    pub devices: Vec<DeviceProof>,
    /// Purchases of this structure matched to no device seen.
    pub never_seen: Vec<usize>,
    pub deployed: Milestone,
    /// By month.
    pub in_use: BTreeMap<String, Milestone>,
    /// Devices active, by day (for the chart).
    pub devices_active_by_day: BTreeMap<String, u32>,
}

/// The whole proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Document {
    pub parameters: Parameters,
    pub structures: Vec<StructureProof>,
    /// Purchases whose structure is neither an id nor a FINESS of fleet.toml.
    pub unplaced_purchases: Vec<usize>,
}

impl Document {
    /// Groups the rows (any order) by structure and device, matches the purchases, adds
    /// up the totals and judges the milestones. The rows come boxed: sorting and grouping
    /// them moves pointers, and each box is freed as its row takes its place, so that a
    /// large fleet's rows are never held twice.
    #[allow(clippy::vec_box)]
    pub fn build(parameters: Parameters, mut rows: Vec<Box<Row>>) -> Document {
        rows.sort_by(|a, b| {
            (&a.structure, &a.device, &a.month).cmp(&(&b.structure, &b.device, &b.month))
        });
        // Structures: fleet.toml's, in its order, then any other that reported.
        let mut structures: Vec<StructureProof> = parameters
            .structures
            .iter()
            .filter(|s| {
                parameters
                    .structure
                    .as_ref()
                    .is_none_or(|only| *only == s.id)
            })
            .map(|s| StructureProof::new(&s.id, Some(s)))
            .collect();
        let mut rows = rows.into_iter().peekable();
        while let Some(first) = rows.next() {
            let (structure, device) = (first.structure.clone(), first.device.clone());
            let mut months = Vec::with_capacity(parameters.months.len());
            months.push(*first);
            while let Some(next) = rows.next_if(|r| r.structure == structure && r.device == device)
            {
                months.push(*next);
            }
            let i = match structures.iter().position(|s| s.id == structure) {
                Some(i) => i,
                None => {
                    structures.push(StructureProof::new(&structure, None));
                    structures.len() - 1
                }
            };
            structures[i].devices.push(DeviceProof {
                evidence: evidence_dir(&structure, &device),
                device,
                purchase: None,
                months,
                totals: Totals::default(),
            });
        }
        let purchases = parameters.purchases.clone().unwrap_or_default();
        let mut unplaced = Vec::new();
        for (i, p) in purchases.iter().enumerate() {
            let Some(s) = structures
                .iter_mut()
                .find(|s| s.id == p.structure || s.finess.as_deref() == Some(p.structure.as_str()))
            else {
                unplaced.push(i);
                continue;
            };
            if !s.match_purchase(i, p) {
                s.never_seen.push(i);
            }
        }
        for s in &mut structures {
            for d in &mut s.devices {
                d.totals = Totals::of(&d.months);
                for row in d.months.iter().filter(|r| r.signature.counts()) {
                    for day in (0..31).filter(|i| row.active_days & 1 << i != 0) {
                        let day = format!("{}-{:02}", row.month, day + 1);
                        *s.devices_active_by_day.entry(day).or_default() += 1;
                    }
                }
            }
            s.judge(&parameters, parameters.purchases.is_some());
        }
        Document {
            parameters,
            structures,
            unplaced_purchases: unplaced,
        }
    }

    /// Every figure the HTML shows (the CSV and the JSON are checked whole), by key: `d|S|D|field` for a device's totals,
    /// `m|S|D|MONTH|field` for one of its months, `c|S|DAY` for the chart, `s|S|field` for a
    /// structure, `g|field` for the grappe. The HTML carries each with its key; `verify`
    /// recomputes them.
    pub fn figures(&self) -> BTreeMap<String, String> {
        let mut out = self.summary_figures();
        for s in &self.structures {
            out.append(&mut self.page_figures(s));
        }
        out
    }

    /// The figures of the summary page: the grappe's, and each structure's own.
    pub fn summary_figures(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let p = &self.parameters;
        let (mut devices, mut funded, mut never_seen, mut deployed, mut in_use_all) =
            (0, 0, 0, 0, 0);
        for s in &self.structures {
            let sk = |f: &str| format!("s|{}|{f}", s.id);
            let n_funded = match &p.purchases {
                Some(_) => {
                    s.devices.iter().filter(|d| d.purchase.is_some()).count() + s.never_seen.len()
                }
                None => s.devices.len(),
            };
            out.insert(sk("devices"), s.devices.len().to_string());
            out.insert(sk("funded"), n_funded.to_string());
            out.insert(sk("never_seen"), s.never_seen.len().to_string());
            out.insert(sk("deployed"), met_name(s.deployed.met, p.lang).into());
            for (month, m) in &s.in_use {
                out.insert(
                    sk(&format!("in_use|{month}")),
                    met_name(m.met, p.lang).into(),
                );
            }
            let all_in_use = !s.in_use.is_empty() && s.in_use.values().all(|m| m.met);
            devices += s.devices.len();
            funded += n_funded;
            never_seen += s.never_seen.len();
            deployed += usize::from(s.deployed.met);
            in_use_all += usize::from(all_in_use);
        }
        out.insert("g|structures".into(), self.structures.len().to_string());
        out.insert("g|devices".into(), devices.to_string());
        out.insert("g|funded".into(), funded.to_string());
        out.insert("g|never_seen".into(), never_seen.to_string());
        out.insert("g|deployed".into(), deployed.to_string());
        out.insert("g|in_use".into(), in_use_all.to_string());
        out
    }

    /// The figures of a structure's page beyond its own: its devices', their months' and
    /// its chart's. Made a page at a time, so that the whole grappe's are never all held.
    pub fn page_figures(&self, s: &StructureProof) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let lang = self.parameters.lang;
        for d in &s.devices {
            let dk = |f: &str| format!("d|{}|{}|{f}", s.id, d.device);
            let t = &d.totals;
            out.insert(dk("days_on"), t.days_on.to_string());
            out.insert(dk("days_active"), t.days_active.to_string());
            out.insert(dk("active_hours"), hours(t.active_s, lang));
            out.insert(dk("boots"), t.boots.to_string());
            out.insert(dk("first_seen"), opt(&t.seen.first_seen));
            out.insert(dk("posture_score"), opt(&t.posture_score));
            out.insert(dk("failing_critical"), t.failing_critical.join(" "));
            out.insert(dk("baseline"), baseline_text(&t.baseline, lang));
            out.insert(dk("security_updates"), opt(&t.security_updates));
            out.insert(dk("board_serial"), opt(&t.board_serial));
            for r in &d.months {
                let mk = |f: &str| format!("m|{}|{}|{}|{f}", s.id, d.device, r.month);
                out.insert(mk("days_active"), r.days_active.to_string());
                out.insert(mk("signature"), signature_label(&r.signature, lang).into());
            }
        }
        for (day, n) in &s.devices_active_by_day {
            out.insert(format!("c|{}|{day}", s.id), n.to_string());
        }
        out
    }
}

/// How a signature state is written in the documents (and read back by `verify`).
pub fn signature_name(s: &Signature) -> &'static str {
    match s {
        Signature::Signed { .. } => "signed",
        Signature::Unsigned => "unsigned",
        Signature::Invalid { .. } => "invalid",
    }
}

/// A signature state as the HTML writes it.
pub fn signature_label(s: &Signature, lang: Lang) -> &'static str {
    match (s, lang) {
        (Signature::Signed { .. }, Lang::Fr) => "signé par l'équipement",
        (Signature::Unsigned, Lang::Fr) => "non signé",
        (Signature::Invalid { .. }, Lang::Fr) => "signature invalide",
        (Signature::Signed { .. }, Lang::En) => "signed by the device",
        (Signature::Unsigned, Lang::En) => "unsigned",
        (Signature::Invalid { .. }, Lang::En) => "invalid signature",
    }
}

/// A baseline item's name in the documents; an id this version does not know (a newer
/// agent's item) as it is.
pub fn baseline_label(id: &str, lang: Lang) -> &str {
    let (fr, en) = match id {
        "updates" => ("mises à jour", "updates"),
        "antivirus" => ("antivirus", "antivirus"),
        "firewall" => ("pare-feu", "firewall"),
        "backup" => ("sauvegarde externalisée", "off-site backup"),
        "session_lock" => ("verrouillage de session", "session lock"),
        "individual_accounts" => ("comptes individuels", "individual accounts"),
        "passwords" => ("mots de passe", "passwords"),
        "encryption" => ("chiffrement", "encryption"),
        _ => return id,
    };
    match lang {
        Lang::Fr => fr,
        Lang::En => en,
    }
}

/// A device's baseline in one line: "6/8 conformes ; non conformes : antivirus,
/// sauvegarde externalisée"; empty for a report without one (never "0/0").
pub fn baseline_text(items: &[BaselineSummary], lang: Lang) -> String {
    let Some(t) = BaselineTally::of(items) else {
        return String::new();
    };
    let names = |ids: &[&str]| {
        ids.iter()
            .map(|id| baseline_label(id, lang))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // French typography: a space before ";" and ":".
    let (passed, failing, unknown, sep, colon) = match lang {
        Lang::Fr => ("conformes", "non conformes", "non vérifiés", " ; ", " :"),
        Lang::En => ("passed", "failing", "unknown", "; ", ":"),
    };
    let mut out = format!("{}/{} {passed}", t.passed, t.applicable);
    for (label, ids) in [(failing, &t.failing), (unknown, &t.unknown)] {
        if !ids.is_empty() {
            out = format!("{out}{sep}{label}{colon} {}", names(ids));
        }
    }
    out
}

/// A milestone's verdict as the documents write it.
pub fn met_name(met: bool, lang: Lang) -> &'static str {
    match (met, lang) {
        (true, Lang::Fr) => "atteint",
        (false, Lang::Fr) => "non atteint",
        (true, Lang::En) => "met",
        (false, Lang::En) => "not met",
    }
}

/// An optional figure as the documents write it: empty when unknown.
pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Seconds as hours with one decimal, with the language's decimal separator.
pub fn hours(secs: u64, lang: Lang) -> String {
    let tenths = (secs + 180) / 360;
    let sep = match lang {
        Lang::Fr => ',',
        Lang::En => '.',
    };
    format!("{}{sep}{}", tenths / 10, tenths % 10)
}

impl Totals {
    fn of(months: &[Row]) -> Totals {
        let counted: Vec<&Row> = months.iter().filter(|r| r.signature.counts()).collect();
        let mut t = Totals {
            all_signed: months
                .iter()
                .all(|r| matches!(r.signature, Signature::Signed { .. })),
            ..Totals::default()
        };
        for r in &counted {
            t.days_on += r.days_on;
            t.days_active += r.days_active;
            t.active_s += r.active_s;
            t.boots += r.boots;
            t.seen = t.seen.and(r.seen);
        }
        if let Some(last) = counted.last() {
            t.posture_score = last.posture_score;
            t.failing_critical = last.failing_critical.clone();
            t.failing_high = last.failing_high.clone();
            t.baseline = last.baseline.clone();
            t.security_updates = last.security_updates;
            t.board_vendor = last.board_vendor.clone();
            t.board_model = last.board_model.clone();
            t.board_serial = last.board_serial.clone();
        }
        t
    }
}

impl StructureProof {
    fn new(id: &str, info: Option<&StructureInfo>) -> StructureProof {
        StructureProof {
            id: id.to_owned(),
            name: info.map(|i| i.name.clone()),
            finess: info.map(|i| i.finess.clone()),
            devices: Vec::new(),
            never_seen: Vec::new(),
            deployed: Milestone {
                met: false,
                blocking: Vec::new(),
            },
            in_use: BTreeMap::new(),
            devices_active_by_day: BTreeMap::new(),
        }
    }

    /// Matches purchase `i` to a device on its board serial (read from DMI or the device
    /// tree), else on its device id; whether one was found.
    fn match_purchase(&mut self, i: usize, p: &Purchase) -> bool {
        let norm = |s: &str| s.trim().to_ascii_lowercase();
        let free = |d: &&mut DeviceProof| d.purchase.is_none();
        let by_serial = p.serial.as_deref().map(norm).filter(|s| !s.is_empty());
        let found = self.devices.iter_mut().filter(free).find(|d| {
            let serial = d
                .months
                .iter()
                .rev()
                .find_map(|r| r.board_serial.as_deref());
            by_serial.is_some() && serial.map(norm) == by_serial
        });
        let found = match found {
            Some(d) => Some(d),
            None => self
                .devices
                .iter_mut()
                .filter(free)
                .find(|d| p.device.as_deref().is_some_and(|id| id.trim() == d.device)),
        };
        match found {
            Some(d) => {
                d.purchase = Some(i);
                true
            }
            None => false,
        }
    }

    /// The milestones. The funded devices are the purchases of this structure when a
    /// list was given, else every device seen.
    fn judge(&mut self, p: &Parameters, with_purchases: bool) {
        let funded: Vec<&DeviceProof> = self
            .devices
            .iter()
            .filter(|d| !with_purchases || d.purchase.is_some())
            .collect();
        let mut deployed: Vec<Blocker> = self
            .never_seen
            .iter()
            .map(|&purchase| Blocker::NeverSeen { purchase })
            .collect();
        for d in &funded {
            let device = d.device.clone();
            let t = &d.totals;
            if d.months.iter().all(|r| !r.signature.counts()) {
                deployed.push(Blocker::InvalidSignature { device });
                continue;
            }
            if t.posture_score.is_none_or(|s| s < p.min_posture_score) {
                deployed.push(Blocker::PostureBelow {
                    device: device.clone(),
                    score: t.posture_score,
                });
            }
            if !t.failing_critical.is_empty() {
                deployed.push(Blocker::FailingCritical {
                    device,
                    checks: t.failing_critical.clone(),
                });
            }
        }
        let any_funded = !funded.is_empty() || !self.never_seen.is_empty();
        if !any_funded {
            deployed.push(Blocker::NoFundedDevice);
        }
        self.deployed = Milestone {
            met: any_funded && deployed.is_empty(),
            blocking: deployed,
        };
        for month in &p.months {
            let mut blocking: Vec<Blocker> = self
                .never_seen
                .iter()
                .map(|&purchase| Blocker::NeverSeen { purchase })
                .collect();
            if !any_funded {
                blocking.push(Blocker::NoFundedDevice);
            }
            for d in &funded {
                let row = d.months.iter().find(|r| r.month == *month);
                match row {
                    None => blocking.push(Blocker::NoReport {
                        device: d.device.clone(),
                    }),
                    Some(r) if !r.signature.counts() => blocking.push(Blocker::InvalidSignature {
                        device: d.device.clone(),
                    }),
                    Some(r) if r.days_active < p.min_days_active => {
                        blocking.push(Blocker::FewDaysActive {
                            device: d.device.clone(),
                            days: r.days_active,
                        })
                    }
                    Some(_) => {}
                }
            }
            self.in_use.insert(
                month.clone(),
                Milestone {
                    met: any_funded && blocking.is_empty(),
                    blocking,
                },
            );
        }
    }
}

/// The time a proof is said to be made at, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn generated_at(t: SystemTime) -> String {
    crate::wire::rfc3339(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::vec_box)] // Document::build takes its rows boxed
    fn boxed(rows: &[Row]) -> Vec<Box<Row>> {
        rows.iter().cloned().map(Box::new).collect()
    }

    #[test]
    fn periods_are_whole_months_in_order() {
        assert_eq!(
            months("2026-11", "2027-02").unwrap(),
            ["2026-11", "2026-12", "2027-01", "2027-02"]
        );
        assert_eq!(months("2026-11", "2026-11").unwrap(), ["2026-11"]);
        for bad in ["2026-13", "2026-1", "26-11", "2026-00", "november"] {
            assert!(
                months(bad, bad).unwrap_err().contains("not a month"),
                "{bad}"
            );
        }
        assert!(months("2026-11", "2026-10").unwrap_err().contains("before"));
        assert!(months("2024-01", "2026-12")
            .unwrap_err()
            .contains("more than 24"));
    }

    #[test]
    fn hours_have_one_decimal_in_the_language_s_way() {
        assert_eq!(hours(3600 * 12 + 1800, Lang::Fr), "12,5");
        assert_eq!(hours(3600 * 12 + 1800, Lang::En), "12.5");
        assert_eq!(hours(0, Lang::En), "0.0");
        assert_eq!(hours(179, Lang::En), "0.0");
        assert_eq!(hours(180, Lang::En), "0.1");
    }

    fn day_of(month: &str, day: u8) -> Date {
        let (year, month) = period::parse_period(month).unwrap();
        Date::from_calendar_date(year, month, day).unwrap()
    }

    fn row(structure: &str, device: &str, month: &str, days_active: u32, serial: &str) -> Row {
        Row {
            structure: structure.into(),
            device: device.into(),
            month: month.into(),
            signature: Signature::Signed {
                cert_sha256: "ab".repeat(32),
            },
            agent_version: "0.1.0".into(),
            collected_at: format!("{month}-28T00:00:00Z"),
            board_vendor: None,
            board_model: None,
            board_serial: Some(serial.into()),
            seen: Seen {
                first_seen: Some(day_of(month, 1)),
                first_day: Some(day_of(month, 1)),
                last_day: Some(day_of(month, 28)),
            },
            days_on: 28,
            days_active,
            uptime_s: 28 * 8 * 3600,
            active_s: u64::from(days_active) * 3600,
            boots: 28,
            active_rule: None,
            posture_score: Some(80),
            failing_critical: vec![],
            failing_high: vec![],
            baseline: vec![],
            security_updates: Some(0),
            active_days: (1u32 << days_active) - 1,
        }
    }

    fn parameters(purchases: Option<Vec<Purchase>>) -> Parameters {
        Parameters {
            grappe: "g".into(),
            months: vec!["2026-10".into(), "2026-11".into()],
            structure: None,
            lang: Lang::Fr,
            generated_at: "2026-12-01T00:00:00Z".into(),
            generator: "grappe-fleet test".into(),
            ca_sha256: "00".into(),
            min_posture_score: 70,
            min_days_active: 8,
            structures: vec![StructureInfo {
                id: "ehpad-a".into(),
                name: "EHPAD A".into(),
                finess: "750000001".into(),
            }],
            purchases,
        }
    }

    fn purchase(structure: &str, serial: Option<&str>, device: Option<&str>) -> Purchase {
        Purchase {
            structure: structure.into(),
            serial: serial.map(Into::into),
            device: device.map(Into::into),
            description: "Tablette".into(),
            invoice: "F1".into(),
            purchase_date: "2026-03-01".into(),
        }
    }

    #[test]
    fn milestones_follow_the_purchases_and_the_thresholds() {
        let rows = vec![
            row("ehpad-a", "tab-1", "2026-10", 10, "SN-1"),
            row("ehpad-a", "tab-1", "2026-11", 12, "SN-1"),
            row("ehpad-a", "tab-2", "2026-10", 9, "SN-2"),
            row("ehpad-a", "tab-2", "2026-11", 3, "SN-2"),
        ];
        // Without a list, every device seen is funded.
        let doc = Document::build(parameters(None), boxed(&rows));
        let s = &doc.structures[0];
        assert!(s.deployed.met);
        assert!(s.in_use["2026-10"].met);
        assert_eq!(
            s.in_use["2026-11"].blocking,
            [Blocker::FewDaysActive {
                device: "tab-2".into(),
                days: 3
            }]
        );
        assert_eq!(s.devices[0].totals.days_active, 22);
        assert_eq!(s.devices_active_by_day["2026-10-09"], 2);
        assert_eq!(s.devices_active_by_day["2026-11-12"], 1);
        let figures = doc.figures();
        assert_eq!(figures["d|ehpad-a|tab-1|active_hours"], "22,0");
        assert_eq!(figures["s|ehpad-a|in_use|2026-11"], "non atteint");
        assert_eq!(figures["g|deployed"], "1");

        // tab-1 bought (matched on its serial, whatever the case), tab-2 not on the list,
        // a third tablet never seen: it blocks both milestones; tab-2's 3 days do not.
        let list = vec![
            purchase("750000001", Some("sn-1 "), None),
            purchase("ehpad-a", Some("SN-9"), Some("tab-9")),
            purchase("ssiad-z", None, Some("x")),
        ];
        let doc = Document::build(parameters(Some(list)), boxed(&rows));
        let s = &doc.structures[0];
        assert_eq!(s.devices[0].purchase, Some(0));
        assert_eq!(s.devices[1].purchase, None);
        assert_eq!(s.never_seen, [1]);
        assert_eq!(doc.unplaced_purchases, [2]);
        assert_eq!(s.deployed.blocking, [Blocker::NeverSeen { purchase: 1 }]);
        assert_eq!(
            s.in_use["2026-11"].blocking,
            [Blocker::NeverSeen { purchase: 1 }]
        );

        // A failing critical check or a low score blocks "deployed"; an invalid signature
        // is never counted.
        let mut bad = rows.clone();
        bad[1].failing_critical = vec!["accounts.uid0".into()];
        bad[3].posture_score = Some(40);
        bad[2].signature = Signature::Invalid { reason: "x".into() };
        let doc = Document::build(parameters(None), boxed(&bad));
        let s = &doc.structures[0];
        assert!(!s.deployed.met);
        assert!(s.deployed.blocking.contains(&Blocker::FailingCritical {
            device: "tab-1".into(),
            checks: vec!["accounts.uid0".into()]
        }));
        assert!(s.deployed.blocking.contains(&Blocker::PostureBelow {
            device: "tab-2".into(),
            score: Some(40)
        }));
        assert_eq!(
            s.in_use["2026-10"].blocking,
            [Blocker::InvalidSignature {
                device: "tab-2".into()
            }]
        );
        assert_eq!(
            s.devices[1].totals.days_active, 3,
            "the invalid month is not added"
        );
    }

    fn baseline(statuses: &[(&str, crate::wire::posture::Status)]) -> Vec<BaselineSummary> {
        statuses
            .iter()
            .map(|&(id, status)| BaselineSummary {
                id: id.into(),
                status,
            })
            .collect()
    }

    /// The ESSMS baseline of a device's latest month: one CSV column per item (empty for
    /// an older agent's report), a line in the HTML that `verify` reads back as a figure.
    #[test]
    fn the_baseline_is_shown_item_by_item_and_never_as_0_of_0() {
        use super::super::{render, verify};
        use crate::wire::posture::Status::*;
        let all = baseline(&[
            ("updates", Pass),
            ("antivirus", Fail),
            ("firewall", Pass),
            ("backup", Fail),
            ("session_lock", Pass),
            ("individual_accounts", Pass),
            ("passwords", Pass),
            ("encryption", Pass),
        ]);
        let mut rows = vec![
            row("ehpad-a", "tab-1", "2026-10", 10, "SN-1"),
            row("ehpad-a", "tab-1", "2026-11", 12, "SN-1"),
            row("ehpad-a", "tab-2", "2026-11", 9, "SN-2"),
        ];
        rows[0].baseline = baseline(&[("antivirus", Unknown)]);
        rows[1].baseline = all;
        // tab-2: an agent older than the baseline.
        let list = vec![
            purchase("ehpad-a", Some("SN-1"), None),
            purchase("ehpad-a", Some("SN-9"), None),
        ];
        let doc = Document::build(parameters(Some(list.clone())), boxed(&rows));
        let figures = doc.figures();
        assert_eq!(
            figures["d|ehpad-a|tab-1|baseline"],
            "6/8 conformes ; non conformes : antivirus, sauvegarde externalisée",
            "the latest month's"
        );
        assert_eq!(figures["d|ehpad-a|tab-2|baseline"], "");

        let mut csv = Vec::new();
        render::each_csv_record(&doc, |r| csv.push(r.to_vec()));
        let header = &csv[0];
        let col = |name: &str| header.iter().position(|h| h == name).unwrap();
        let items: Vec<&str> = header[col("baseline_updates")..=col("baseline_encryption")]
            .iter()
            .map(String::as_str)
            .collect();
        assert_eq!(items.len(), 8, "{header:?}");
        assert_eq!(col("baseline_encryption") + 1, col("signature"));
        let (oct, nov, old, never) = (&csv[1], &csv[2], &csv[3], &csv[4]);
        assert_eq!(
            (
                &*oct[col("baseline_antivirus")],
                &*oct[col("baseline_backup")]
            ),
            ("unknown", ""),
            "an item the report lacks is empty"
        );
        assert_eq!(&nov[col("baseline_antivirus")], "fail");
        assert_eq!(&nov[col("baseline_firewall")], "pass");
        assert!(old[col("baseline_updates")..=col("baseline_encryption")]
            .iter()
            .all(String::is_empty));
        assert_eq!(&nov[col("signature")], "signed");
        assert_eq!(&never[col("signature")], "jamais_vu");
        assert_eq!(&never[col("facture")], "F1");

        let mut html = Vec::new();
        render::write_html(&doc, &mut html).unwrap();
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("<th>Socle de sécurité ESSMS</th>"));
        assert!(html.contains("instruction interministérielle du 4 juillet 2017"));
        assert!(
            html.contains("<td colspan=\"10\" class=\"ko\">"),
            "never seen"
        );
        let shown = verify::html_figures(&html);
        assert_eq!(
            shown, figures,
            "every figure shown, the baseline's included"
        );

        let mut en = parameters(Some(list));
        en.lang = Lang::En;
        let doc = Document::build(en, boxed(&rows));
        assert_eq!(
            doc.figures()["d|ehpad-a|tab-1|baseline"],
            "6/8 passed; failing: antivirus, off-site backup"
        );
        let mut html = Vec::new();
        render::write_html(&doc, &mut html).unwrap();
        let html = String::from_utf8(html).unwrap();
        assert!(html.contains("<th>ESSMS security baseline</th>"));
        assert!(html.contains("6/8 passed; failing: antivirus, off-site backup"));
        assert_eq!(
            baseline_text(
                &baseline(&[("encryption", NotApplicable), ("x", Unknown)]),
                Lang::En
            ),
            "0/1 passed; unknown: x",
            "not applicable items are left out, unknown ids named as they are"
        );
    }

    /// A usage report's posture carries its baseline into the row; an older one (no
    /// `baseline` key) still reads, with none.
    #[test]
    fn a_row_takes_the_baseline_of_its_report() {
        let who = Identity {
            grappe: "g".into(),
            structure: "ehpad-a".into(),
            device: "tab-1".into(),
        };
        let report = |posture: serde_json::Value| {
            serde_json::json!({"schema": "grappe-agent/usage/2", "grappe": "g",
                "structure": "ehpad-a", "device": "tab-1", "agent_version": "0.1.0",
                "collected_at": "2026-11-30T23:00:00Z", "seq": 1, "data": {"period": "2026-11",
                "days": [], "days_on": 0, "days_active": 0,
                "equipment": {"board": null, "patches": null, "posture": posture}}})
            .to_string()
        };
        let checker = Checker::new(Vec::new());
        let posture = serde_json::json!({"collected_at": "2026-11-30T22:00:00Z", "score": 80,
            "failing_critical": [], "failing_high": [],
            "baseline": [{"id": "firewall", "status": "fail"}]});
        let r = row_of(
            &who,
            "2026-11",
            report(posture.clone()).as_bytes(),
            &checker,
        )
        .unwrap();
        assert_eq!(
            r.baseline,
            baseline(&[("firewall", crate::wire::posture::Status::Fail)])
        );
        let mut old = posture;
        old.as_object_mut().unwrap().remove("baseline");
        let r = row_of(&who, "2026-11", report(old).as_bytes(), &checker).unwrap();
        assert_eq!((r.posture_score, r.baseline.len()), (Some(80), 0));
    }
}

#[cfg(test)]
mod checker_tests {
    use super::*;
    use crate::wire::Kind;
    use rustls::pki_types::pem::PemObject as _;
    use std::time::Duration;

    /// A device's usage report of `month`, made at `at`, sealed with its key.
    fn sealed(
        who: &Identity,
        month: &str,
        at: SystemTime,
        cert: &rustls::pki_types::CertificateDer<'static>,
        key: &dyn rustls::sign::SigningKey,
    ) -> Vec<u8> {
        let data = UsageMonth {
            period: month.into(),
            days: vec![],
            days_on: 0,
            days_active: 0,
            active_rule: None,
            first_day: None,
            equipment: None,
        };
        let report = serde_json::to_vec(&Envelope::new(Kind::Usage, who, at, 1, data)).unwrap();
        crate::wire::signed::seal(&report, key, cert).unwrap()
    }

    /// The chain is checked once per certificate, yet a report made after the certificate
    /// expired is still refused, and a report of another device still names the right one.
    #[test]
    fn a_certificate_is_checked_once_and_its_validity_for_every_report() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::test_pki::Pki::new(dir.path(), "ca");
        let now = time::OffsetDateTime::now_utc();
        let (cert, key) = pki.device("tab-1", "ehpad-a", "g", now - time::Duration::days(90), now);
        let key = rustls::crypto::ring::sign::any_supported_type(&key).unwrap();
        let ca = rustls::pki_types::CertificateDer::from_pem_file(pki.ca_file("ca")).unwrap();
        let anchors = [webpki::anchor_from_trusted_cert(&ca).unwrap().to_owned()];
        let checker = Checker::new(anchors.to_vec());
        let who = Identity {
            grappe: "g".into(),
            structure: "ehpad-a".into(),
            device: "tab-1".into(),
        };
        let month_ago = SystemTime::now() - Duration::from_secs(30 * 86_400);
        for (month, at) in [
            ("2026-01", month_ago),
            ("2026-02", month_ago + Duration::from_secs(86_400)),
        ] {
            let message = sealed(&who, month, at, &cert, key.as_ref());
            let row = row_of(&who, month, &message, &checker).unwrap();
            assert!(
                matches!(row.signature, Signature::Signed { .. }),
                "{:?}",
                row.signature
            );
        }
        assert_eq!(checker.cache().len(), 1, "one chain check for both reports");

        let later = SystemTime::now() + Duration::from_secs(86_400);
        let message = sealed(&who, "2026-03", later, &cert, key.as_ref());
        let row = row_of(&who, "2026-03", &message, &checker).unwrap();
        assert!(
            matches!(&row.signature, Signature::Invalid { reason } if reason.contains("expired before the report")),
            "{:?}",
            row.signature
        );
    }
}
