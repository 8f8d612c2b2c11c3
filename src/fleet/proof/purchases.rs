//! The purchase list (`--purchases`): the devices bought with the funds, as the grappe's
//! accounts know them. A CSV as a spreadsheet saves it (`;` or `,`, UTF-8 with or without
//! a byte order mark), one row per device, with a header naming the columns:
//!
//! | column | also accepted | |
//! |---|---|---|
//! | `structure` | `finess` | the structure's id or its FINESS géographique |
//! | `serial` | `numero_serie` | the board serial (DMI or device tree), if known |
//! | `device` | `appareil` | the device id, if known |
//! | `description` | `designation` | what was bought |
//! | `invoice` | `facture` | the invoice reference |
//! | `purchase_date` | `date_achat` | the purchase date |
//!
//! Each row needs a structure and a serial or a device id.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// Structure id or FINESS, as written.
    pub structure: String,
    pub serial: Option<String>,
    pub device: Option<String>,
    pub description: String,
    pub invoice: String,
    pub purchase_date: String,
}

const COLUMNS: [(&str, &[&str]); 6] = [
    ("structure", &["structure", "finess"]),
    ("serial", &["serial", "numero_serie", "numéro_série"]),
    ("device", &["device", "appareil"]),
    (
        "description",
        &["description", "designation", "désignation"],
    ),
    ("invoice", &["invoice", "facture"]),
    ("purchase_date", &["purchase_date", "date_achat", "date"]),
];

/// Reads the purchase list; the error names the line and what is wrong.
pub fn read(path: &Path) -> Result<Vec<Purchase>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse(bytes: &[u8]) -> Result<Vec<Purchase>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let count = |c: u8| first_line.iter().filter(|b| **b == c).count();
    let delimiter = if count(b';') >= count(b',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| format!("cannot read the header line: {e}"))?
        .clone();
    let mut index = [None; 6];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_lowercase().replace([' ', '-'], "_");
        if let Some(c) = COLUMNS
            .iter()
            .position(|(_, names)| names.contains(&name.as_str()))
        {
            index[c] = Some(i);
        }
    }
    for (c, (name, _)) in COLUMNS.iter().enumerate() {
        if index[c].is_none() && matches!(*name, "structure" | "description" | "invoice") {
            return Err(format!(
                "the header line has no {name:?} column (columns: structure, serial, device, description, invoice, purchase_date)"
            ));
        }
    }
    if index[1].is_none() && index[2].is_none() {
        return Err("the header line has neither a \"serial\" nor a \"device\" column".into());
    }
    let mut out = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let field = |c: usize| {
            index[c]
                .and_then(|i| record.get(i))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let some = |s: String| (!s.is_empty()).then_some(s);
        let p = Purchase {
            structure: field(0),
            serial: some(field(1)),
            device: some(field(2)),
            description: field(3),
            invoice: field(4),
            purchase_date: field(5),
        };
        if p.structure.is_empty() {
            return Err(format!("line {line}: no structure (its id or FINESS)"));
        }
        if p.serial.is_none() && p.device.is_none() {
            return Err(format!(
                "line {line}: neither a board serial nor a device id: one is needed to find the device"
            ));
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_export_is_read_with_either_separator() {
        let semi = "\u{feff}Structure;Numéro série;Appareil;Désignation;Facture;Date achat\n\
                    750000001;SN-1;;Tablette 10 pouces;F-2026-001;2026-03-01\n\
                    ehpad-a;;tab-02;\"Mini-PC; bureau\";F-2026-002;2026-03-02\n;;;;;\n";
        let p = parse(semi.as_bytes()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].structure, "750000001");
        assert_eq!(p[0].serial.as_deref(), Some("SN-1"));
        assert_eq!(p[0].device, None);
        assert_eq!(p[1].description, "Mini-PC; bureau");
        let comma = "structure,serial,device,description,invoice,purchase_date\nehpad-a,SN-9,,PC,F1,2026-01-01\n";
        assert_eq!(
            parse(comma.as_bytes()).unwrap()[0].serial.as_deref(),
            Some("SN-9")
        );
    }

    #[test]
    fn missing_columns_and_rows_without_an_identity_are_named() {
        let e = parse(b"structure;serial\nx;y\n").unwrap_err();
        assert!(e.contains("\"description\""), "{e}");
        let e = parse(b"structure;description;invoice\nx;y;z\n").unwrap_err();
        assert!(e.contains("neither"), "{e}");
        let e = parse(b"structure;serial;device;description;invoice\nehpad;;;PC;F1\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = parse(b"structure;serial;device;description;invoice\n;S;;PC;F1\n").unwrap_err();
        assert!(e.contains("no structure"), "{e}");
    }
}
