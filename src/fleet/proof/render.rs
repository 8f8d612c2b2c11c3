//! The three documents of a proof, from its [`Document`]: `equipment.csv` (one row per
//! device and month, for a spreadsheet), `equipment.json` (everything, with the
//! parameters `verify` needs) and `equipment.html` (printable on A4, French by default).
//! Every function here is deterministic: the same document gives the same bytes.

use super::model::{
    hours, opt, signature_name, Blocker, Document, Lang, Milestone, StructureProof,
};
use crate::collect::posture::baseline::ITEMS as BASELINE;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The CSV's records (header first), one at a time, as written and as `verify` expects
/// them (a fleet's proof has tens of thousands: never all in memory).
pub fn each_csv_record(doc: &Document, mut each: impl FnMut(&[String])) {
    let fr = doc.parameters.lang == Lang::Fr;
    let header: &[&str] = if fr {
        &[
            "structure",
            "nom_structure",
            "finess",
            "appareil",
            "mois",
            "fabricant",
            "modele",
            "numero_serie",
            "facture",
            "designation",
            "premier_jour_vu",
            "premier_jour",
            "dernier_jour",
            "jours_allume",
            "jours_actif",
            "heures_actives",
            "demarrages",
            "score_securite",
            "controles_critiques_en_echec",
            "controles_eleves_en_echec",
            "mises_a_jour_securite_en_attente",
            "signature",
            "preuve",
        ]
    } else {
        &[
            "structure",
            "structure_name",
            "finess",
            "device",
            "month",
            "board_vendor",
            "board_model",
            "board_serial",
            "invoice",
            "description",
            "first_seen",
            "first_day",
            "last_day",
            "days_on",
            "days_active",
            "active_hours",
            "boots",
            "posture_score",
            "failing_critical",
            "failing_high",
            "pending_security_updates",
            "signature",
            "evidence",
        ]
    };
    let purchases = doc.parameters.purchases.as_deref().unwrap_or_default();
    // The baseline's columns go before the signature and the evidence file (the last two),
    // one per item, with the same English names in both languages for scripts.
    let (head, tail) = header.split_at(header.len() - 2);
    let header: Vec<String> = head
        .iter()
        .map(|h| h.to_string())
        .chain(BASELINE.iter().map(|i| format!("baseline_{}", i.id)))
        .chain(tail.iter().map(|h| h.to_string()))
        .collect();
    let signature_column = header.len() - 2;
    each(&header);
    for s in &doc.structures {
        let name = opt(&s.name);
        let finess = opt(&s.finess);
        for d in &s.devices {
            let purchase = d.purchase.map(|i| &purchases[i]);
            for r in &d.months {
                // Empty for a report without a baseline, or without that item.
                let baseline = BASELINE.iter().map(|item| {
                    r.baseline
                        .iter()
                        .find(|b| b.id == item.id)
                        .map(|b| b.status.name().to_string())
                        .unwrap_or_default()
                });
                let record: Vec<String> = [
                    s.id.clone(),
                    name.clone(),
                    finess.clone(),
                    d.device.clone(),
                    r.month.clone(),
                    opt(&r.board_vendor),
                    opt(&r.board_model),
                    opt(&r.board_serial),
                    purchase.map(|p| p.invoice.clone()).unwrap_or_default(),
                    purchase.map(|p| p.description.clone()).unwrap_or_default(),
                    opt(&r.seen.first_seen),
                    opt(&r.seen.first_day),
                    opt(&r.seen.last_day),
                    r.days_on.to_string(),
                    r.days_active.to_string(),
                    hours(r.active_s, doc.parameters.lang),
                    r.boots.to_string(),
                    opt(&r.posture_score),
                    r.failing_critical.join(" "),
                    r.failing_high.join(" "),
                    opt(&r.security_updates),
                ]
                .into_iter()
                .chain(baseline)
                .chain([signature_name(&r.signature).into(), r.evidence()])
                .collect();
                each(&record);
            }
        }
        // Funded devices never seen: a row each, with no figures.
        for &i in &s.never_seen {
            let p = &purchases[i];
            let mut row = vec![String::new(); header.len()];
            row[0] = s.id.clone();
            row[1] = name.clone();
            row[2] = finess.clone();
            row[3] = p.device.clone().unwrap_or_default();
            row[7] = p.serial.clone().unwrap_or_default();
            row[8] = p.invoice.clone();
            row[9] = p.description.clone();
            row[signature_column] = if fr { "jamais_vu" } else { "never_seen" }.into();
            each(&row);
        }
    }
}

/// `equipment.csv`: `;`-separated, UTF-8 with a byte order mark (what Excel and
/// LibreOffice open directly in a French locale).
pub fn write_csv(doc: &Document, out: impl std::io::Write) -> std::io::Result<()> {
    let mut out = out;
    out.write_all(b"\xEF\xBB\xBF")?;
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(out);
    let mut result = Ok(());
    each_csv_record(doc, |record| {
        if result.is_ok() {
            result = w.write_record(record);
        }
    });
    result?;
    w.flush()
}

/// `equipment.json`: the whole document, parameters first.
pub fn write_json(doc: &Document, mut out: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut out, doc)?;
    out.write_all(b"\n")
}

/// The words of the HTML, in each language.
struct Words {
    title: &'static str,
    annex: &'static str,
    grappe: &'static str,
    period: &'static str,
    generated: &'static str,
    summary: &'static str,
    structures: &'static str,
    devices_seen: &'static str,
    funded: &'static str,
    never_seen: &'static str,
    deployed_structures: &'static str,
    in_use_structures: &'static str,
    per_month: &'static str,
    days_short: &'static str,
    deployed: &'static str,
    in_use: &'static str,
    device: &'static str,
    serial: &'static str,
    invoice: &'static str,
    first_seen: &'static str,
    days_on: &'static str,
    days_active: &'static str,
    active_hours: &'static str,
    boots: &'static str,
    score: &'static str,
    failing: &'static str,
    baseline: &'static str,
    security: &'static str,
    signature: &'static str,
    chart: &'static str,
    method: &'static str,
    method_text: &'static [&'static str],
    not_listed: &'static str,
    verify: &'static str,
}

const FR: Words = Words {
    title: "Annexe équipement : déploiement et usage des équipements financés",
    annex: "Ce document est l'annexe « équipement » d'une demande de versement au titre du programme ESMS numérique. Il atteste que les équipements financés sont déployés, configurés et utilisés, structure par structure. Il ne constitue pas la preuve de l'atteinte des cibles d'usage du programme, qui portent sur les logiciels (DUI, MSSanté, DMP).",
    grappe: "Grappe",
    period: "Période",
    generated: "Établi le",
    summary: "Synthèse de la grappe",
    structures: "Structures",
    devices_seen: "Équipements vus",
    funded: "Équipements financés",
    never_seen: "Financés jamais vus",
    deployed_structures: "Structures « déployé et configuré »",
    in_use_structures: "Structures « en usage » chaque mois",
    per_month: "par mois",
    days_short: "j d'usage",
    deployed: "Déployé et configuré",
    in_use: "En usage",
    device: "Équipement",
    serial: "N° de série",
    invoice: "Facture",
    first_seen: "Vu depuis",
    days_on: "Jours allumé",
    days_active: "Jours d'usage",
    active_hours: "Heures d'usage",
    boots: "Démarrages",
    score: "Score sécurité",
    failing: "Contrôles critiques en échec",
    baseline: "Socle de sécurité ESSMS",
    security: "Mises à jour de sécurité en attente",
    signature: "Signature",
    chart: "Équipements utilisés par jour",
    method: "Ce que mesurent ces chiffres",
    method_text: &[
        "Chaque équipement fait fonctionner l'agent grappe-agent, qui tient un registre quotidien : durée allumé (horloge monotone du noyau, insensible aux changements d'heure), durée d'usage et nombre de démarrages. Aucune donnée personnelle : ni nom d'utilisateur, ni contenu, uniquement des durées et des comptes.",
        "Une minute compte comme « usage » seulement si une session locale interactive est ouverte (jamais une connexion à distance) et que l'écran est allumé (DRM dpms, rétroéclairage), au début et à la fin de la minute. Une tablette en libre-service dont l'écran s'éteint après inactivité cesse de compter.",
        "Jours d'usage : jours du mois avec au moins une minute d'usage. Score sécurité : note de 0 à 100 des contrôles du guide ANSSI et du référentiel CIS Debian, relevée à la fin de la période ; mises à jour de sécurité : celles qu'apt installerait, à la même date.",
        "Socle de sécurité ESSMS : les mesures que l'instruction interministérielle du 4 juillet 2017 relative à la sécurisation des établissements et services sociaux et médico-sociaux demande pour chaque poste et tablette (mises à jour régulières, antivirus et pare-feu, sauvegardes externalisées, verrouillage automatique des sessions, comptes individuels avec mots de passe robustes), et le chiffrement des équipements mobiles que recommande la CNIL. Chaque point est jugé sur les contrôles de l'équipement qui s'y rapportent : non conforme si l'un d'eux échoue, non vérifié si l'un d'eux n'a pu être lu ; « 6/8 conformes » compte les points conformes parmi ceux qui s'appliquent à l'équipement. Relevé à la fin de la période, comme le score ; vide pour un agent antérieur au socle.",
        "Chaque relevé mensuel est signé par l'équipement lui-même avec la clé de son certificat, délivré par l'autorité de certification de la grappe. Les relevés signés et les certificats sont joints dans le dossier evidence/ ; la commande « grappe-fleet verify » en vérifie les signatures et recalcule chaque chiffre de ce document, sans réseau.",
    ],
    not_listed: "Vu mais absent de la liste d'achats",
    verify: "Empreinte SHA-256 du certificat de l'autorité de la grappe",
};

const EN: Words = Words {
    title: "Equipment annex: deployment and use of the funded equipment",
    annex: "This document is the equipment annex of a funding claim under the ESMS numérique programme. It shows that the funded devices are deployed, set up and used, structure by structure. It is not the proof that the programme's usage targets are met, which are counted on software (DUI, MSSanté, DMP).",
    grappe: "Grappe",
    period: "Period",
    generated: "Made on",
    summary: "The grappe at a glance",
    structures: "Structures",
    devices_seen: "Devices seen",
    funded: "Funded devices",
    never_seen: "Funded, never seen",
    deployed_structures: "Structures \"deployed and set up\"",
    in_use_structures: "Structures \"in use\" every month",
    per_month: "per month",
    days_short: "d in use",
    deployed: "Deployed and set up",
    in_use: "In use",
    device: "Device",
    serial: "Serial",
    invoice: "Invoice",
    first_seen: "Seen since",
    days_on: "Days on",
    days_active: "Days in use",
    active_hours: "Hours in use",
    boots: "Boots",
    score: "Security score",
    failing: "Failing critical checks",
    baseline: "ESSMS security baseline",
    security: "Pending security updates",
    signature: "Signature",
    chart: "Devices used per day",
    method: "What these figures measure",
    method_text: &[
        "Each device runs grappe-agent, which keeps a daily ledger: time on (the kernel's monotonic clock, immune to clock changes), time in use and boots. No personal data: no user names, no content, only durations and counts.",
        "A minute counts as \"in use\" only when a local interactive session is open (never a remote login) and the display is lit (DRM dpms, backlight), at both ends of the minute. A shared tablet whose screen blanks after idle stops counting.",
        "Days in use: days of the month with at least one minute in use. Security score: 0 to 100 from the ANSSI guide and CIS Debian checks, as of the end of the period; security updates: those apt would install, as of the same date.",
        "ESSMS security baseline: the measures the interministerial instruction of 4 July 2017 on security in social and medico-social establishments and services (ESSMS) asks of every computer and tablet (regular updates, antivirus and firewall, off-site backups, automatic session lock, individual accounts with strong passwords), and the encryption of mobile devices the CNIL recommends. Each item is judged on the device's checks that bear on it: failing if one of them fails, unknown if one could not be read; \"6/8 passed\" counts the items passed among those that apply to the device. As of the end of the period, like the score; empty for an agent older than the baseline.",
        "Each monthly record is signed by the device itself with the key of its certificate, issued by the grappe's certificate authority. The signed records and the certificates are in the evidence/ folder; `grappe-fleet verify` checks their signatures and recomputes every figure of this document, offline.",
    ],
    not_listed: "Seen but not on the purchase list",
    verify: "SHA-256 fingerprint of the grappe CA certificate",
};

fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A figure: its key (for `verify`) on the element that shows it.
fn fig(tag: &str, key: &str, value: &str) -> String {
    format!("<{tag} data-k=\"{}\">{}</{tag}>", esc(key), esc(value))
}

const STYLE: &str = "@page{size:A4;margin:14mm 12mm}\
body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:9pt;color:#111;margin:0}\
.page{page-break-after:always;break-after:page}.page:last-child{page-break-after:auto;break-after:auto}\
h1{font-size:15pt;margin:0 0 4mm}h2{font-size:12pt;margin:0 0 3mm}h3{font-size:10pt;margin:4mm 0 2mm}\
p{margin:0 0 2mm}table{border-collapse:collapse;width:100%;margin:0 0 3mm}\
th,td{border:0.3pt solid #999;padding:1mm 1.2mm;text-align:left;vertical-align:top}\
th{background:#eee;font-weight:600}td.n{text-align:right}\
.ok{color:#0a6b2b;font-weight:600}.ko{color:#a30000;font-weight:600}\
.small{font-size:7.5pt;color:#444}.kv td:first-child{width:60%}svg{display:block}";

/// Figures by key: a structure page's own, then the summary's.
struct Figures<'a> {
    page: &'a BTreeMap<String, String>,
    summary: &'a BTreeMap<String, String>,
}

impl Figures<'_> {
    fn get(&self, key: &str) -> String {
        self.page
            .get(key)
            .or_else(|| self.summary.get(key))
            .cloned()
            .unwrap_or_default()
    }
}

/// `equipment.html`: one summary page for the grappe, then one page per structure,
/// written a page at a time.
pub fn write_html(doc: &Document, mut out: impl std::io::Write) -> std::io::Result<()> {
    let p = &doc.parameters;
    let w = match p.lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    };
    let period = match (p.months.first(), p.months.last()) {
        (Some(a), Some(b)) if a != b => format!("{a} – {b}"),
        (Some(a), _) => a.clone(),
        _ => String::new(),
    };
    let summary = doc.summary_figures();
    let none = BTreeMap::new();
    let figures = Figures {
        page: &none,
        summary: &summary,
    };
    let g = |k: &str| figures.get(k);
    let lang = match p.lang {
        Lang::Fr => "fr",
        Lang::En => "en",
    };
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>{} – {} – {}</title><style>{STYLE}</style></head><body>\n",
        esc(w.title),
        esc(&p.grappe),
        esc(&period)
    );
    // Summary page.
    let _ = write!(
        o,
        "<section class=\"page\"><h1>{}</h1><p>{}</p>\
         <table class=\"kv\"><tr><th>{}</th><td>{}</td></tr><tr><th>{}</th><td>{}</td></tr>\
         <tr><th>{}</th><td>{} ({})</td></tr></table><h2>{}</h2><table class=\"kv\">",
        esc(w.title),
        esc(w.annex),
        w.grappe,
        esc(&p.grappe),
        w.period,
        esc(&period),
        w.generated,
        esc(&p.generated_at),
        esc(&p.generator),
        w.summary
    );
    for (label, key) in [
        (w.structures, "g|structures"),
        (w.devices_seen, "g|devices"),
        (w.funded, "g|funded"),
        (w.never_seen, "g|never_seen"),
        (w.deployed_structures, "g|deployed"),
        (w.in_use_structures, "g|in_use"),
    ] {
        let _ = write!(o, "<tr><th>{label}</th>{}</tr>", fig("td", key, &g(key)));
    }
    o.push_str("</table>");
    let _ = write!(
        o,
        "<table><tr><th>{}</th><th>FINESS</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        w.structures, w.devices_seen, w.deployed, w.in_use
    );
    for s in &doc.structures {
        let in_use: Vec<String> = s
            .in_use
            .iter()
            .map(|(m, ms)| {
                format!(
                    "{m} {}",
                    mark(ms, &format!("s|{}|in_use|{m}", s.id), &figures)
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td></tr>",
            esc(s.name.as_deref().unwrap_or(&s.id)),
            esc(s.finess.as_deref().unwrap_or("")),
            fig(
                "td",
                &format!("s|{}|devices", s.id),
                &g(&format!("s|{}|devices", s.id))
            ),
            mark(&s.deployed, &format!("s|{}|deployed", s.id), &figures),
            in_use.join("<br>")
        );
    }
    let _ = write!(o, "</table><h3>{}</h3>", w.method);
    for para in w.method_text {
        let _ = write!(o, "<p class=\"small\">{}</p>", esc(para));
    }
    let _ = writeln!(
        o,
        "<p class=\"small\">{} : {}<br>{} : {} &ge; {} ; {} : {} &ge; {} {}</p></section>",
        w.verify,
        esc(&p.ca_sha256),
        w.deployed,
        w.score,
        p.min_posture_score,
        w.in_use,
        w.days_active,
        p.min_days_active,
        w.per_month
    );
    for s in &doc.structures {
        out.write_all(o.as_bytes())?;
        o.clear();
        let page = doc.page_figures(s);
        let figures = Figures {
            page: &page,
            summary: &summary,
        };
        structure_page(&mut o, doc, s, w, &figures);
    }
    o.push_str("</body></html>\n");
    out.write_all(o.as_bytes())
}

/// A milestone's verdict, its figure marked.
fn mark(m: &Milestone, key: &str, figures: &Figures) -> String {
    let text = figures.get(key);
    let (class, sign) = if m.met { ("ok", "✔") } else { ("ko", "✘") };
    format!(
        "<span class=\"{class}\">{sign} {}</span>",
        fig("span", key, &text)
    )
}

fn structure_page(
    o: &mut String,
    doc: &Document,
    s: &StructureProof,
    w: &Words,
    figures: &Figures,
) {
    let p = &doc.parameters;
    let purchases = p.purchases.as_deref().unwrap_or_default();
    let g = |k: String| {
        let v = figures.get(&k);
        (k, v)
    };
    let _ = write!(
        o,
        "<section class=\"page\"><h2>{}{}</h2>",
        esc(s.name.as_deref().unwrap_or(&s.id)),
        s.finess
            .as_deref()
            .map(|f| format!(" – FINESS {}", esc(f)))
            .unwrap_or_default()
    );
    let _ = write!(
        o,
        "<table class=\"kv\"><tr><th>{}</th><td>{}</td></tr>",
        w.deployed,
        mark(&s.deployed, &format!("s|{}|deployed", s.id), figures),
    );
    for (month, m) in &s.in_use {
        let _ = write!(
            o,
            "<tr><th>{} {month}</th><td>{}</td></tr>",
            w.in_use,
            mark(m, &format!("s|{}|in_use|{month}", s.id), figures),
        );
    }
    for (label, key) in [
        (w.devices_seen, "devices"),
        (w.funded, "funded"),
        (w.never_seen, "never_seen"),
    ] {
        let (k, v) = g(format!("s|{}|{key}", s.id));
        let _ = write!(o, "<tr><th>{label}</th>{}</tr>", fig("td", &k, &v));
    }
    o.push_str("</table>");
    let blockers: Vec<String> = std::iter::once(&s.deployed)
        .chain(s.in_use.values())
        .flat_map(|m| m.blocking.iter())
        .map(|b| blocker_text(b, purchases, p))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !blockers.is_empty() {
        o.push_str("<ul class=\"small\">");
        for b in blockers {
            let _ = write!(o, "<li>{}</li>", esc(&b));
        }
        o.push_str("</ul>");
    }
    chart(o, s, &p.months, w);
    let _ = write!(
        o,
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        w.device,
        w.serial,
        w.invoice,
        w.first_seen,
        w.days_on,
        w.days_active,
        w.active_hours,
        w.boots,
        w.score,
        w.failing,
        w.baseline,
        w.security,
        w.signature
    );
    for d in &s.devices {
        let key = |f: &str| format!("d|{}|{}|{f}", s.id, d.device);
        let cell = |f: &str| {
            let k = key(f);
            let v = figures.get(&k);
            fig("td", &k, &v)
        };
        let board = [&d.totals.board_vendor, &d.totals.board_model]
            .iter()
            .filter_map(|v| v.as_deref())
            .collect::<Vec<_>>()
            .join(" ");
        let invoice = d
            .purchase
            .map(|i| esc(&purchases[i].invoice))
            .unwrap_or_else(|| {
                if p.purchases.is_some() {
                    format!("<span class=\"ko\">{}</span>", w.not_listed)
                } else {
                    String::new()
                }
            });
        let signatures: Vec<String> = d
            .months
            .iter()
            .map(|r| {
                let k = format!("m|{}|{}|{}|signature", s.id, d.device, r.month);
                let v = figures.get(&k);
                let dk = format!("m|{}|{}|{}|days_active", s.id, d.device, r.month);
                let days = figures.get(&dk);
                format!(
                    "{} : {} {} · {}",
                    esc(&r.month),
                    fig("span", &dk, &days),
                    w.days_short,
                    fig("span", &k, &v)
                )
            })
            .collect();
        // A line of words in a narrow column: small, like the signatures.
        let baseline = {
            let k = key("baseline");
            fig("span", &k, &figures.get(&k))
        };
        let _ = write!(
            o,
            "<tr><td>{}<br><span class=\"small\">{}</span></td>{}<td>{invoice}</td>{}{}{}{}{}{}{}<td class=\"small\">{}</td>{}<td class=\"small\">{}</td></tr>",
            esc(&d.device),
            esc(&board),
            cell("board_serial"),
            cell("first_seen"),
            cell("days_on"),
            cell("days_active"),
            cell("active_hours"),
            cell("boots"),
            cell("posture_score"),
            cell("failing_critical"),
            baseline,
            cell("security_updates"),
            signatures.join("<br>")
        );
    }
    for &i in &s.never_seen {
        let pch = &purchases[i];
        let _ = write!(
            o,
            "<tr><td class=\"ko\">{}</td><td>{}</td><td>{}</td><td colspan=\"10\" class=\"ko\">{}</td></tr>",
            esc(pch.device.as_deref().unwrap_or(&pch.description)),
            esc(pch.serial.as_deref().unwrap_or("")),
            esc(&pch.invoice),
            w.never_seen
        );
    }
    o.push_str("</table></section>\n");
}

fn blocker_text(
    b: &Blocker,
    purchases: &[super::purchases::Purchase],
    p: &super::model::Parameters,
) -> String {
    let fr = p.lang == Lang::Fr;
    match b {
        Blocker::NoFundedDevice => match (fr, p.purchases.is_some()) {
            (true, true) => "aucun équipement de la liste d'achats pour cette structure".into(),
            (true, false) => "aucun équipement vu pour cette structure".into(),
            (false, true) => "no device of the purchase list for this structure".into(),
            (false, false) => "no device seen for this structure".into(),
        },
        Blocker::NeverSeen { purchase } => {
            let pch = &purchases[*purchase];
            let what = pch
                .serial
                .as_deref()
                .or(pch.device.as_deref())
                .unwrap_or_default();
            if fr {
                format!(
                    "{} ({what}, facture {}) : financé, jamais vu",
                    pch.description, pch.invoice
                )
            } else {
                format!(
                    "{} ({what}, invoice {}): funded, never seen",
                    pch.description, pch.invoice
                )
            }
        }
        Blocker::NoReport { device } => {
            if fr {
                format!("{device} : aucun relevé pour un mois de la période")
            } else {
                format!("{device}: no record for a month of the period")
            }
        }
        Blocker::InvalidSignature { device } => {
            if fr {
                format!("{device} : signature invalide, chiffres non retenus")
            } else {
                format!("{device}: invalid signature, figures not counted")
            }
        }
        Blocker::PostureBelow { device, score } => {
            let score = score.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
            if fr {
                format!(
                    "{device} : score sécurité {score} sous le seuil {}",
                    p.min_posture_score
                )
            } else {
                format!(
                    "{device}: security score {score} below {}",
                    p.min_posture_score
                )
            }
        }
        Blocker::FailingCritical { device, checks } => {
            if fr {
                format!(
                    "{device} : contrôle critique en échec ({})",
                    checks.join(", ")
                )
            } else {
                format!("{device}: failing critical check ({})", checks.join(", "))
            }
        }
        Blocker::FewDaysActive { device, days } => {
            if fr {
                format!(
                    "{device} : {days} jour(s) d'usage, seuil {}",
                    p.min_days_active
                )
            } else {
                format!(
                    "{device}: {days} day(s) in use, threshold {}",
                    p.min_days_active
                )
            }
        }
    }
}

/// Devices used per day over the period: one bar per day, inline SVG (no script, no
/// external asset). Each bar carries its figure's key.
fn chart(o: &mut String, s: &StructureProof, months: &[String], w: &Words) {
    let days: Vec<String> = months
        .iter()
        .filter_map(|m| crate::wire::usage::parse_period(m).map(|p| (m, p)))
        .flat_map(|(m, (year, month))| (1..=month.length(year)).map(move |d| format!("{m}-{d:02}")))
        .collect();
    let max = s.devices.len().max(1) as f64;
    let (width, height) = (680.0, 70.0);
    let bar = width / days.len().max(1) as f64;
    let _ = write!(
        o,
        "<h3>{}</h3><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\" role=\"img\">",
        w.chart,
        height + 14.0,
        height + 14.0
    );
    for (i, day) in days.iter().enumerate() {
        let n = s.devices_active_by_day.get(day).copied().unwrap_or(0);
        let h = (n as f64 / max * height).round();
        let x = (i as f64 * bar * 100.0).round() / 100.0;
        if n > 0 {
            let _ = write!(
                o,
                "<rect x=\"{x}\" y=\"{}\" width=\"{:.2}\" height=\"{h}\" fill=\"#2b6cb0\" data-k=\"c|{}|{day}\" data-v=\"{n}\"/>",
                height - h,
                (bar - 0.5).max(0.5),
                esc(&s.id)
            );
        }
        if day.ends_with("-01") {
            let _ = write!(
                o,
                "<text x=\"{x}\" y=\"{}\" font-size=\"8\">{}</text>",
                height + 11.0,
                &day[..7]
            );
        }
    }
    let _ = write!(
        o,
        "<line x1=\"0\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\" stroke=\"#333\" stroke-width=\"0.5\"/></svg>"
    );
}
