//! The topic tree, both ways: every topic the agent publishes or reads is a [`Topic`] of an
//! [`Identity`], built here and parsed back here, with whether the broker keeps it
//! (retained) and the ACL filters that confine a device to its own branch.
//!
//! `grappe/v1/{grappe}/{structure}/{device}/{suffix}`, suffix one of: `status`,
//! `heartbeat`, `inventory`, `posture`, `patches`, `usage/{YYYY-MM}`, `cmd/{name}`,
//! `cmd-result`.

use super::Kind;

/// The first two levels of every topic; `v1` changes only with an incompatible tree.
pub const ROOT: &str = "grappe/v1";

/// Whether `name` may be a level of the tree (a grappe, structure or device id, or an
/// operator's name): `[a-z0-9-]{1,64}`, which also keeps it clear of MQTT wildcards and
/// of anything a shell or a file name would read differently.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What [`is_valid_name`] asks, as a user reads it.
pub const VALID_NAME: &str = "1 to 64 characters among a-z, 0-9 and '-'";

/// Who a topic is about: the three levels of the tree under [`ROOT`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub grappe: String,
    pub structure: String,
    pub device: String,
}

/// What a topic of a device carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topic {
    /// `online`, or `offline` (a clean stop, or the Last Will when the connection is lost).
    Status,
    Heartbeat,
    /// The latest report of a kind (usage: of the current month).
    Report(Kind),
    /// The usage figures of a given month, `YYYY-MM`.
    UsageMonth(String),
    /// An operator command, by name (whatever the name: the agent answers unknown ones).
    Command(String),
    /// The answers to commands.
    CommandResult,
}

impl Topic {
    /// The topic's suffix under the device's branch.
    pub fn suffix(&self) -> String {
        match self {
            Topic::Status => "status".into(),
            Topic::Heartbeat => "heartbeat".into(),
            Topic::Report(kind) => kind.name().into(),
            Topic::UsageMonth(period) => format!("usage/{period}"),
            Topic::Command(name) => format!("cmd/{name}"),
            Topic::CommandResult => "cmd-result".into(),
        }
    }

    /// The full topic for `who`.
    pub fn of(&self, who: &Identity) -> String {
        format!("{}/{}", who.branch(), self.suffix())
    }

    /// Whether the broker keeps the last message for whoever subscribes later: the state
    /// and the reports are; heartbeats, commands and answers are events.
    pub fn retained(&self) -> bool {
        matches!(
            self,
            Topic::Status | Topic::Report(_) | Topic::UsageMonth(_)
        )
    }

    /// Reads a topic back: `None` for anything outside the tree (another root, a missing
    /// or empty level, an unknown suffix, a month that is not `YYYY-MM`).
    pub fn parse(topic: &str) -> Option<(Identity, Topic)> {
        let rest = topic.strip_prefix(ROOT)?.strip_prefix('/')?;
        let mut levels = rest.splitn(4, '/');
        let mut level = || levels.next().filter(|l| !l.is_empty()).map(str::to_owned);
        let who = Identity {
            grappe: level()?,
            structure: level()?,
            device: level()?,
        };
        let suffix = level()?;
        let parsed = match suffix.as_str() {
            "status" => Topic::Status,
            "heartbeat" => Topic::Heartbeat,
            "cmd-result" => Topic::CommandResult,
            _ => match suffix.split_once('/') {
                Some(("cmd", name)) if !name.is_empty() && !name.contains('/') => {
                    Topic::Command(name.into())
                }
                Some(("usage", period)) if is_period(period) => Topic::UsageMonth(period.into()),
                _ => Topic::Report(Kind::from_name(&suffix)?),
            },
        };
        Some((who, parsed))
    }
}

/// `YYYY-MM`, month 01 to 12.
fn is_period(s: &str) -> bool {
    crate::wire::usage::parse_period(s).is_some()
}

impl Identity {
    /// `grappe/v1/{grappe}/{structure}/{device}`: the branch holding all of this device's
    /// topics.
    pub fn branch(&self) -> String {
        format!("{ROOT}/{}/{}/{}", self.grappe, self.structure, self.device)
    }

    /// A filter over the devices of `grappe`: one structure or all (`+`), one device or
    /// all. Ids are not checked here: give only valid ones (or `None`).
    pub fn wildcard(grappe: &str, structure: Option<&str>, device: Option<&str>) -> Identity {
        Identity {
            grappe: grappe.to_owned(),
            structure: structure.unwrap_or("+").to_owned(),
            device: device.unwrap_or("+").to_owned(),
        }
    }

    /// Filter of the commands sent to this device (what it subscribes to).
    pub fn commands_filter(&self) -> String {
        format!("{}/cmd/+", self.branch())
    }
}

/// What the broker's ACL grants, as Mosquitto `topic` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    pub write: Vec<String>,
    pub read: Vec<String>,
}

impl Grants {
    /// A device writes only what it publishes, each topic spelled out under its own
    /// branch (a `{branch}/#` grant would let it publish commands to itself), and reads
    /// only its own commands.
    pub fn device(who: &Identity) -> Grants {
        let mut published = vec![Topic::Status, Topic::Heartbeat];
        published.extend(Kind::ALL.map(Topic::Report));
        published.extend([Topic::UsageMonth("+".into()), Topic::CommandResult]);
        Grants {
            write: published.iter().map(|t| t.of(who)).collect(),
            read: vec![format!("{}/cmd/+", who.branch())],
        }
    }

    /// An operator reads the whole grappe and writes commands to any of its devices.
    pub fn operator(grappe: &str) -> Grants {
        Grants {
            write: vec![format!("{ROOT}/{grappe}/+/+/cmd/+")],
            read: vec![format!("{ROOT}/{grappe}/#")],
        }
    }

    /// The ACL lines (Mosquitto's `acl_file` syntax) of the user `name`.
    pub fn acl_block(&self, name: &str) -> String {
        let mut block = format!("user {name}\n");
        for filter in &self.write {
            block.push_str(&format!("topic write {filter}\n"));
        }
        for filter in &self.read {
            block.push_str(&format!("topic read {filter}\n"));
        }
        block
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Identity {
        Identity {
            grappe: "g".into(),
            structure: "s".into(),
            device: "d".into(),
        }
    }

    #[test]
    fn every_topic_reads_back_as_itself() {
        let topics = [
            Topic::Status,
            Topic::Heartbeat,
            Topic::Report(Kind::Inventory),
            Topic::Report(Kind::Posture),
            Topic::Report(Kind::Patches),
            Topic::Report(Kind::Usage),
            Topic::UsageMonth("2026-11".into()),
            Topic::Command("refresh".into()),
            Topic::Command("unknown-one".into()),
            Topic::CommandResult,
        ];
        for t in topics {
            let path = t.of(&who());
            assert!(path.starts_with("grappe/v1/g/s/d/"), "{path}");
            assert_eq!(Topic::parse(&path), Some((who(), t.clone())), "{path}");
        }
        assert_eq!(
            Topic::Report(Kind::Posture).of(&who()),
            "grappe/v1/g/s/d/posture"
        );
        assert_eq!(
            Topic::UsageMonth("2026-11".into()).of(&who()),
            "grappe/v1/g/s/d/usage/2026-11"
        );
    }

    #[test]
    fn what_is_not_in_the_tree_is_not_parsed() {
        for topic in [
            "",
            "grappe/v2/g/s/d/status",
            "grappe/v1/g/s/d",
            "grappe/v1/g/s/d/",
            "grappe/v1/g//d/status",
            "grappe/v1/g/s/d/status/extra",
            "grappe/v1/g/s/d/heartbeats",
            "grappe/v1/g/s/d/usage/2026-13",
            "grappe/v1/g/s/d/usage/2026-1",
            "grappe/v1/g/s/d/cmd/",
            "grappe/v1/g/s/d/cmd/a/b",
            "other/v1/g/s/d/status",
        ] {
            assert_eq!(Topic::parse(topic), None, "{topic}");
        }
    }

    #[test]
    fn only_state_and_reports_are_retained() {
        assert!(Topic::Status.retained());
        assert!(Topic::Report(Kind::Usage).retained());
        assert!(Topic::UsageMonth("2026-01".into()).retained());
        assert!(!Topic::Heartbeat.retained());
        assert!(!Topic::Command("ping".into()).retained());
        assert!(!Topic::CommandResult.retained());
    }

    #[test]
    fn grants_confine_a_device_to_its_branch() {
        let g = Grants::device(&who());
        assert_eq!(
            g.write,
            [
                "grappe/v1/g/s/d/status",
                "grappe/v1/g/s/d/heartbeat",
                "grappe/v1/g/s/d/inventory",
                "grappe/v1/g/s/d/posture",
                "grappe/v1/g/s/d/patches",
                "grappe/v1/g/s/d/usage",
                "grappe/v1/g/s/d/usage/+",
                "grappe/v1/g/s/d/cmd-result",
            ]
        );
        // Every topic a device writes parses back as its own, and none is a command.
        for filter in &g.write {
            let topic = filter.replace('+', "2026-12");
            let (owner, parsed) = Topic::parse(&topic).unwrap();
            assert_eq!(owner, who());
            assert!(!matches!(parsed, Topic::Command(_)), "{filter}");
        }
        assert_eq!(g.read, ["grappe/v1/g/s/d/cmd/+"]);
        assert_eq!(who().commands_filter(), g.read[0]);
        // The fleet's filters are built the same way.
        assert_eq!(
            Topic::Status.of(&Identity::wildcard("g", None, Some("d"))),
            "grappe/v1/g/+/d/status"
        );
        assert_eq!(
            Topic::CommandResult.of(&Identity::wildcard("g", Some("s"), None)),
            "grappe/v1/g/s/+/cmd-result"
        );
        let o = Grants::operator("g");
        assert_eq!(o.read, ["grappe/v1/g/#"]);
        assert_eq!(o.write, ["grappe/v1/g/+/+/cmd/+"]);
        assert_eq!(
            o.acl_block("alice"),
            "user alice\ntopic write grappe/v1/g/+/+/cmd/+\ntopic read grappe/v1/g/#\n"
        );
    }
}
