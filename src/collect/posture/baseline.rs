//! The sector's baseline: what the "Instruction interministérielle du 4 juillet 2017
//! relative aux mesures de sécurisation dans les établissements et services sociaux et
//! médico-sociaux" (cited as "Instruction ESSMS 2017") asks of every terminal, tablets included (regular
//! updates, antivirus and firewall, off-site backups, automatic session lock, individual
//! accounts with strong passwords), and the CNIL's encryption of mobile devices.
//!
//! Each item is judged from checks of the report, never from anything of its own, so that
//! its verdict can always be traced to evidence: it fails when one of its checks fails, is
//! unknown when one is unknown and none fails, passes when one passes and the others do
//! not apply, and does not apply when none of its checks does.

use super::{BaselineItem, Check, Status};

/// One item: what it asks and the checks it rests on.
pub struct Item {
    pub id: &'static str,
    pub title: &'static str,
    pub checks: &'static [&'static str],
    pub reference: &'static str,
}

/// The items, in the order the report and the documents list them.
pub const ITEMS: [Item; 8] = [
    Item {
        id: "updates",
        title: "Security updates are installed regularly and automatically",
        checks: &[
            "updates.automatic",
            "updates.recent",
            "updates.security_origin",
        ],
        reference: "Instruction ESSMS 2017: vérifier la politique de mise à jour des systèmes d'exploitation et des logiciels",
    },
    Item {
        id: "antivirus",
        title: "An antivirus runs with up-to-date signatures",
        checks: &["av.clamav", "av.signatures"],
        reference: "Instruction ESSMS 2017: protection contre les virus informatiques (antivirus)",
    },
    Item {
        id: "firewall",
        title: "A firewall filters incoming traffic",
        checks: &["network.firewall"],
        reference: "Instruction ESSMS 2017: protection contre les virus informatiques (firewall)",
    },
    Item {
        id: "backup",
        title: "Data is backed up to a place off the device, on a schedule",
        checks: &["backup.offsite"],
        reference: "Instruction ESSMS 2017: sauvegardes conformes à l'état de l'art, sur un site distant",
    },
    Item {
        id: "session_lock",
        title: "Sessions lock automatically when left idle",
        checks: &["session.screen_lock", "session.console_timeout"],
        reference: "Instruction ESSMS 2017: verrouiller les sessions utilisateurs (fermeture automatique après inactivité)",
    },
    Item {
        id: "individual_accounts",
        title: "Every user logs in with an individual account",
        checks: &[
            "accounts.individual",
            "session.autologin",
            "raspi.pi_account",
        ],
        reference: "Instruction ESSMS 2017: vérifier les niveaux d'accès des utilisateurs",
    },
    Item {
        id: "passwords",
        title: "Passwords are required, strong and stored hashed",
        checks: &[
            "accounts.empty_password",
            "accounts.pam_nullok",
            "ssh.empty_passwords",
            "accounts.password_hashing",
            "accounts.password_quality",
        ],
        reference: "Instruction ESSMS 2017: stratégie de choix et de renouvellement des mots de passe",
    },
    Item {
        id: "encryption",
        title: "Stored data is encrypted (root filesystem, swap, home)",
        checks: &[
            "disk.encryption",
            "disk.swap_encryption",
            "disk.home_encryption",
        ],
        reference: "CNIL, Guide de la sécurité des données personnelles: chiffrer les équipements mobiles",
    },
];

/// The verdict of each item from the checks of one report.
pub fn judge(checks: &[Check]) -> Vec<BaselineItem> {
    ITEMS
        .iter()
        .map(|item| {
            let statuses: Vec<Status> = checks
                .iter()
                .filter(|c| item.checks.contains(&&*c.id))
                .map(|c| c.status)
                .collect();
            BaselineItem {
                id: item.id.into(),
                title: item.title.into(),
                status: verdict(&statuses),
                checks: item.checks.iter().map(|&id| id.into()).collect(),
                reference: item.reference.into(),
            }
        })
        .collect()
}

/// Fail beats unknown beats pass beats not applicable. No check at all (an agent that
/// lacks one) is unknown: an item is never passed on missing evidence.
fn verdict(statuses: &[Status]) -> Status {
    let any = |s| statuses.contains(&s);
    if any(Status::Fail) {
        Status::Fail
    } else if any(Status::Unknown) || statuses.is_empty() {
        Status::Unknown
    } else if any(Status::Pass) {
        Status::Pass
    } else {
        Status::NotApplicable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::posture::{Rule, Severity};

    fn check(id: &'static str, status: Status) -> Check {
        Rule {
            id,
            title: "t",
            severity: Severity::High,
            reference: "r",
        }
        .check(status, "e")
    }

    #[test]
    fn verdicts_never_pass_on_a_failure_or_on_missing_evidence() {
        use Status::*;
        assert_eq!(verdict(&[Pass, Fail, Unknown]), Fail);
        assert_eq!(verdict(&[Pass, Unknown]), Unknown);
        assert_eq!(verdict(&[Pass, NotApplicable]), Pass);
        assert_eq!(verdict(&[NotApplicable, NotApplicable]), NotApplicable);
        assert_eq!(verdict(&[]), Unknown);
    }

    /// Every check an item names is one the collector makes: a typo would leave the item
    /// resting on nothing.
    #[test]
    fn every_named_check_exists() {
        let dir = tempfile::tempdir().unwrap();
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let p = crate::collect::posture::collect(&root);
        for item in &ITEMS {
            for id in item.checks {
                assert!(
                    p.checks.iter().any(|c| c.id == *id),
                    "{}: no check {id}",
                    item.id
                );
            }
        }
        assert_eq!(p.baseline.len(), ITEMS.len());
    }

    #[test]
    fn items_rest_on_their_own_checks_only() {
        let checks = [
            check("network.firewall", Status::Pass),
            check("session.screen_lock", Status::NotApplicable),
            check("session.console_timeout", Status::Fail),
            check("disk.encryption", Status::Pass),
        ];
        let items = judge(&checks);
        assert_eq!(items.len(), ITEMS.len());
        let status = |id: &str| items.iter().find(|i| i.id == id).unwrap().status;
        assert_eq!(status("firewall"), Status::Pass);
        assert_eq!(status("session_lock"), Status::Fail);
        assert_eq!(status("encryption"), Status::Pass);
        assert_eq!(status("antivirus"), Status::Unknown);
        let fw = items.iter().find(|i| i.id == "firewall").unwrap();
        assert_eq!(fw.checks, ["network.firewall"]);
    }
}
