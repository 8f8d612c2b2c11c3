//! `grappe-fleet verify DIR`: checks an archived proof offline, with no broker and no
//! configuration, trusting nothing in it but the devices' signatures under the grappe CA
//! (and, with `--ca`, checking that CA against one obtained elsewhere):
//!
//! 1. every file against `SHA256SUMS`, and no file outside it;
//! 2. each evidence report: its signature against its certificate, the certificate
//!    against the grappe CA as of when the report was made, the certificate's names
//!    against the device, structure and month the report says and its place in `evidence/`;
//! 3. every figure of `equipment.csv`, `equipment.json` and `equipment.html`, recomputed
//!    from the evidence with the same code that made them.
//!
//! Each problem names the file, the device and the field.

use super::model::{self, Document, Parameters, Row, Signature};
use super::{files_of, render, sha256_file, CA_FILE, SUMS_FILE};
use crate::wire::signed::sha256_hex;
use anyhow::{Context, Result};
use rayon::iter::{IntoParallelRefIterator as _, ParallelIterator as _};
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Per device (`structure/device`): "signed", "unsigned" or what is wrong.
    pub devices: BTreeMap<String, Vec<String>>,
    /// Everything that does not check out, each naming file, device and field.
    pub problems: Vec<String>,
    pub ca_sha256: String,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The text `verify` prints.
    pub fn text(&self) -> String {
        let mut out = format!("grappe CA SHA-256 {}\n", self.ca_sha256);
        for (device, notes) in &self.devices {
            out.push_str(&format!("  {device:<48} {}\n", notes.join("; ")));
        }
        for p in &self.problems {
            out.push_str(&format!("MISMATCH {p}\n"));
        }
        out.push_str(if self.ok() {
            "VERIFIED: every file, signature and figure checks out\n"
        } else {
            "NOT VERIFIED\n"
        });
        out
    }
}

/// Checks the proof in `dir`; `ca`, when given, is the grappe CA certificate as obtained
/// independently (it must be the one in the proof). An error is a proof that cannot be
/// read at all (no JSON, no CA); anything else is in the verdict.
pub fn verify(dir: &Path, ca: Option<&Path>) -> Result<Verdict> {
    let mut v = Verdict::default();
    check_sums(dir, &mut v)?;

    let json_text = std::fs::read(dir.join("equipment.json"))
        .with_context(|| format!("{}: no equipment.json: is this a proof?", dir.display()))?;
    let json: Value = serde_json::from_slice(&json_text).context("equipment.json is not JSON")?;
    let parameters: Parameters = serde_json::from_value(json["parameters"].clone())
        .context("equipment.json: its parameters cannot be read")?;

    let ca_pem = std::fs::read(dir.join(CA_FILE)).with_context(|| format!("no {CA_FILE}"))?;
    let ca_der = rustls::pki_types::CertificateDer::from_pem_slice(&ca_pem)
        .with_context(|| format!("{CA_FILE} holds no certificate"))?;
    v.ca_sha256 = sha256_hex(&ca_der);
    if v.ca_sha256 != parameters.ca_sha256 {
        v.problems.push(format!(
            "{CA_FILE}: its SHA-256 is {}, equipment.json says {}",
            v.ca_sha256, parameters.ca_sha256
        ));
    }
    if let Some(ca) = ca {
        let theirs = rustls::pki_types::CertificateDer::from_pem_file(ca)
            .with_context(|| format!("--ca {}: no certificate", ca.display()))?;
        if theirs != ca_der {
            v.problems.push(format!(
                "{CA_FILE} is not the CA given with --ca (SHA-256 {}): the proof is signed under another CA",
                sha256_hex(&theirs)
            ));
        }
    }
    let anchor = webpki::anchor_from_trusted_cert(&ca_der)
        .map_err(|e| anyhow::anyhow!("{CA_FILE} is not a usable CA certificate: {e}"))?
        .to_owned();

    let rows = read_evidence(dir, &parameters, &anchor, &mut v)?;
    let doc = Document::build(parameters, rows);
    check_csv(dir, &doc, &mut v);
    check_json(&json, &doc, &mut v);
    check_html(dir, &doc, &mut v);
    Ok(v)
}

fn check_sums(dir: &Path, v: &mut Verdict) -> Result<()> {
    let sums = match std::fs::read_to_string(dir.join(SUMS_FILE)) {
        Ok(s) => s,
        Err(e) => {
            v.problems
                .push(format!("{SUMS_FILE}: cannot be read ({e})"));
            return Ok(());
        }
    };
    let mut listed = std::collections::BTreeSet::new();
    let mut entries = Vec::new();
    for line in sums.lines() {
        match line.split_once("  ") {
            Some((hash, file)) => {
                listed.insert(file);
                entries.push((hash, file));
            }
            None => v
                .problems
                .push(format!("{SUMS_FILE}: line {line:?} is not \"HASH  FILE\"")),
        }
    }
    let mismatches: Vec<String> = entries
        .par_iter()
        .filter_map(|&(hash, file)| match sha256_file(&dir.join(file)) {
            Ok(actual) if actual == hash => None,
            Ok(_) => Some(format!(
                "{file}: its SHA-256 is not the one in {SUMS_FILE} (the file was changed)"
            )),
            Err(_) => Some(format!("{file}: missing (listed in {SUMS_FILE})")),
        })
        .collect();
    v.problems.extend(mismatches);
    for file in files_of(dir)? {
        if !listed.contains(file.as_str()) {
            v.problems.push(format!(
                "{file}: not listed in {SUMS_FILE} (added after the proof was made)"
            ));
        }
    }
    Ok(())
}

/// Every `evidence/STRUCTURE/DEVICE/usage-MONTH.json`, read and checked as `proof` read it
/// from the broker, plus what its place says.
#[allow(clippy::vec_box)] // for Document::build
fn read_evidence(
    dir: &Path,
    p: &Parameters,
    anchor: &rustls::pki_types::TrustAnchor<'static>,
    v: &mut Verdict,
) -> Result<Vec<Box<Row>>> {
    let checker = model::Checker::new(vec![anchor.clone()]);
    // Read and checked on every core (the signatures are most of the work), then noted
    // in the order of the files.
    let reports: Vec<(String, String, String, String)> = files_of(dir)?
        .into_iter()
        .filter_map(|file| {
            let parts: Vec<&str> = file.split('/').collect();
            let ["evidence", structure, device, name] = parts.as_slice() else {
                return None;
            };
            let month = name.strip_prefix("usage-")?.strip_suffix(".json")?;
            let (structure, device, month) =
                (structure.to_string(), device.to_string(), month.to_string());
            Some((file, structure, device, month))
        })
        .collect();
    let checked: Vec<_> = reports
        .par_iter()
        .map(|(file, structure, device, month)| {
            let bytes = std::fs::read(dir.join(file))?;
            let who = crate::wire::Identity {
                grappe: p.grappe.clone(),
                structure: structure.clone(),
                device: device.clone(),
            };
            let row = model::row_of(&who, month, &bytes, &checker);
            let certificate = row.as_ref().ok().and_then(Row::certificate);
            let certificate_problem =
                certificate.and_then(|cert| certificate_file_problem(dir, &cert, &bytes, device));
            Ok::<_, std::io::Error>((row, certificate_problem))
        })
        .collect();
    let mut rows = Vec::new();
    for ((file, structure, device, month), checked) in reports.iter().zip(checked) {
        let (row, certificate_problem) = checked.with_context(|| format!("cannot read {file}"))?;
        v.problems.extend(certificate_problem);
        let key = format!("{structure}/{device}");
        match row {
            Err(e) => {
                v.problems.push(format!("{file}: device {device}: {e}"));
                v.devices
                    .entry(key)
                    .or_default()
                    .push(format!("{month} unreadable"));
            }
            Ok(row) => {
                let note = match &row.signature {
                    Signature::Signed { .. } => format!("{month} signed"),
                    Signature::Unsigned => {
                        format!("{month} UNSIGNED (figures not attested by the device)")
                    }
                    Signature::Invalid { reason } => {
                        v.problems
                            .push(format!("{file}: device {device}: {reason}"));
                        format!("{month} INVALID SIGNATURE")
                    }
                };
                v.devices.entry(key).or_default().push(note);
                rows.push(Box::new(row));
            }
        }
        if !p.months.iter().any(|m| m == month) {
            v.problems.push(format!(
                "{file}: month {month} is not in the proof's period"
            ));
        }
    }
    Ok(rows)
}

/// Whether the certificate file beside a signed report is not the one that signed it.
fn certificate_file_problem(
    dir: &Path,
    cert: &str,
    message: &[u8],
    device: &str,
) -> Option<String> {
    let Ok(crate::wire::signed::Opened::Signed(signed)) =
        crate::wire::signed::Opened::read(message)
    else {
        return None;
    };
    let in_file = rustls::pki_types::CertificateDer::from_pem_file(dir.join(cert)).ok();
    (in_file.as_deref() != signed.certificate().ok().as_deref())
        .then(|| format!("{cert}: device {device}: not the certificate that signed its reports"))
}

fn check_csv(dir: &Path, doc: &Document, v: &mut Verdict) {
    const FILE: &str = "equipment.csv";
    let Ok(bytes) = std::fs::read(dir.join(FILE)) else {
        v.problems.push(format!("{FILE}: missing"));
        return;
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.records().filter_map(|r| r.ok());
    let actual_header: Option<Vec<String>> = records
        .next()
        .map(|r| r.iter().map(str::to_owned).collect());
    // Rows by structure, device and month (never-seen purchases: by invoice).
    let key = |r: &[String]| {
        let at = |i: usize| r.get(i).cloned().unwrap_or_default();
        (at(0), at(3), at(4), at(8))
    };
    let mut actual_rows = BTreeMap::new();
    for r in records {
        let r: Vec<String> = r.iter().map(str::to_owned).collect();
        actual_rows.insert(key(&r), r);
    }
    let mut header: Option<Vec<String>> = None;
    render::each_csv_record(doc, |r| {
        let Some(header) = &header else {
            if actual_header.as_deref() != Some(r) {
                v.problems.push(format!(
                    "{FILE}: the header line is not the one of this proof's language"
                ));
            }
            header = Some(r.to_vec());
            return;
        };
        let k = key(r);
        let who = format!("structure {}, device {}, month {}", k.0, k.1, k.2);
        match actual_rows.remove(&k) {
            None => v.problems.push(format!("{FILE}: no row for {who}")),
            Some(a) => {
                for (i, field) in header.iter().enumerate() {
                    let (want, got) = (&r[i], a.get(i).map(String::as_str).unwrap_or(""));
                    if want != got {
                        v.problems.push(format!(
                            "{FILE}: {who}, field {field}: says {got:?}, the evidence gives {want:?}"
                        ));
                    }
                }
            }
        }
    });
    for (k, _) in actual_rows {
        v.problems.push(format!(
            "{FILE}: a row for structure {}, device {}, month {} that no evidence supports",
            k.0, k.1, k.2
        ));
    }
}

fn check_json(actual: &Value, doc: &Document, v: &mut Verdict) {
    let expected = serde_json::to_value(doc).unwrap_or_default();
    let mut problems = Vec::new();
    diff("", &expected, actual, &mut problems);
    v.problems
        .extend(problems.into_iter().map(|p| format!("equipment.json: {p}")));
}

/// Differences between two JSON values, each named by its path; array elements that are
/// structures, devices or months are named by their id.
fn diff(path: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => diff(&p, wv, gv, out),
                    None => out.push(format!("{p}: missing")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: not in what the evidence gives"));
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                let label = ["id", "device", "month"]
                    .iter()
                    .find_map(|k| wv.get(*k).and_then(Value::as_str))
                    .map(str::to_owned)
                    .unwrap_or_else(|| i.to_string());
                diff(&format!("{path}[{label}]"), wv, gv, out);
            }
        }
        _ if want == got => {}
        _ => out.push(format!(
            "{}: says {}, the evidence gives {}",
            path.trim_start_matches('.'),
            got,
            want
        )),
    }
}

fn check_html(dir: &Path, doc: &Document, v: &mut Verdict) {
    const FILE: &str = "equipment.html";
    let Ok(text) = std::fs::read_to_string(dir.join(FILE)) else {
        v.problems.push(format!("{FILE}: missing or not UTF-8"));
        return;
    };
    let mut shown = html_figures(&text);
    for (key, want) in doc.figures() {
        let what = describe_key(&key);
        // Chart bars are drawn only for days with use.
        if key.starts_with("c|") && want == "0" && !shown.contains_key(&key) {
            continue;
        }
        match shown.remove(&key) {
            None => v.problems.push(format!("{FILE}: {what}: not shown")),
            Some(got) if got != want => v.problems.push(format!(
                "{FILE}: {what}: says {got:?}, the evidence gives {want:?}"
            )),
            Some(_) => {}
        }
    }
    for key in shown.keys() {
        v.problems.push(format!(
            "{FILE}: {}: shown, but no evidence supports it",
            describe_key(key)
        ));
    }
}

/// "device D of structure S, field F" for a figure key.
fn describe_key(key: &str) -> String {
    let parts: Vec<&str> = key.split('|').collect();
    match parts.as_slice() {
        ["d", s, d, f] => format!("device {d} (structure {s}), field {f}"),
        ["m", s, d, m, f] => format!("device {d} (structure {s}), month {m}, field {f}"),
        ["s", s, f @ ..] => format!("structure {s}, field {}", f.join(" ")),
        ["c", s, day] => format!("structure {s}, chart, day {day}"),
        ["g", f] => format!("grappe summary, field {f}"),
        _ => key.to_string(),
    }
}

/// The figures an HTML proof shows: each element with a `data-k` key, valued by its
/// `data-v` attribute or else its text. Reads the markup `render::write_html` writes.
pub fn html_figures(html: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = html;
    while let Some(at) = rest.find("data-k=\"") {
        let after = &rest[at + 8..];
        let Some(end) = after.find('"') else { break };
        let key = unescape(&after[..end]);
        let tag_end = after.find('>').unwrap_or(after.len());
        let tag = &after[..tag_end];
        let value = match tag.find("data-v=\"") {
            Some(v) => {
                let val = &tag[v + 8..];
                unescape(&val[..val.find('"').unwrap_or(val.len())])
            }
            None => {
                let text = &after[(tag_end + 1).min(after.len())..];
                unescape(&text[..text.find('<').unwrap_or(text.len())])
            }
        };
        out.insert(key, value);
        rest = &after[end..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
