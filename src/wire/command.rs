//! Operator commands, received on `.../{device}/cmd/{name}` and answered on `cmd-result`.
//!
//! Only three commands exist and their payload is parsed strictly: anything else is
//! answered with an error and logged. Nothing received from the network is ever run as a
//! shell command or turned into a path: a command only selects one of the agent's own
//! actions.

use serde::{Deserialize, Serialize};

/// Payloads larger than this are refused without being parsed.
pub const MAX_PAYLOAD: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// Collect and publish every report now, even if unchanged.
    Refresh,
    /// Check the release source for an update.
    UpdateCheck,
    /// Answer at once: proves the command path works end to end.
    Ping,
}

impl Command {
    /// The name in the command's topic, `cmd/{name}`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Refresh => "refresh",
            Command::UpdateCheck => "update-check",
            Command::Ping => "ping",
        }
    }

    fn from_name(name: &str) -> Option<Command> {
        [Command::Refresh, Command::UpdateCheck, Command::Ping]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// A well-formed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub command: Command,
    /// Chosen by the operator to match the answer to the request.
    pub id: Option<String>,
}

/// Why a command was refused; `id` is kept when it could be read, to match the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub name: String,
    pub id: Option<String>,
    pub reason: String,
}

/// The optional JSON payload: `{"id": "..."}` and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    id: Option<String>,
}

/// Parses the command named by the last topic level, with its payload.
pub fn parse(name: &str, payload: &[u8]) -> Result<Request, Refusal> {
    let printable = printable(name);
    let refuse = |id: Option<String>, reason: String| Refusal {
        name: printable.clone(),
        id,
        reason,
    };
    if payload.len() > MAX_PAYLOAD {
        return Err(refuse(
            None,
            format!(
                "payload of {} bytes is over the {MAX_PAYLOAD}-byte limit",
                payload.len()
            ),
        ));
    }
    let id = if payload.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let bad = |why: String| {
            refuse(
                None,
                format!("payload must be empty or a JSON object like {{\"id\":\"abc\"}}: {why}"),
            )
        };
        // serde would also accept an array for a struct; only an object is a valid payload.
        if payload.trim_ascii_start().first() != Some(&b'{') {
            return Err(bad("it does not start with '{'".into()));
        }
        let parsed: Payload = serde_json::from_slice(payload).map_err(|e| bad(e.to_string()))?;
        match parsed.id {
            Some(id) if !valid_id(&id) => {
                return Err(refuse(
                    None,
                    "id must be 1 to 64 characters among A-Z a-z 0-9 . _ -".into(),
                ))
            }
            id => id,
        }
    };
    let command = Command::from_name(name).ok_or_else(|| {
        refuse(
            id.clone(),
            format!(
                "unknown command {printable:?}: the agent accepts refresh, update-check and ping"
            ),
        )
    })?;
    Ok(Request { command, id })
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// A command name as it may be echoed back and logged: printable ASCII, at most 64 chars.
fn printable(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// The answer published on `cmd-result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The command's name as received (printable, at most 64 characters).
    pub command: String,
    /// The id the operator gave, to match the answer to its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_commands_with_or_without_an_id() {
        assert_eq!(
            parse("ping", b"").unwrap(),
            Request {
                command: Command::Ping,
                id: None
            }
        );
        assert_eq!(parse("refresh", b"  \n").unwrap().command, Command::Refresh);
        let r = parse("update-check", br#"{"id":"op-42"}"#).unwrap();
        assert_eq!(
            (r.command, r.id.as_deref()),
            (Command::UpdateCheck, Some("op-42"))
        );
        assert_eq!(parse("ping", b"{}").unwrap().id, None);
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        let unknown = parse("exec", br#"{"id":"x"}"#).unwrap_err();
        assert_eq!(unknown.id.as_deref(), Some("x"));
        assert!(unknown.reason.contains("unknown command"), "{unknown:?}");

        for (name, payload, why) in [
            (
                "ping",
                &br#"{"id":"x","cmd":"rm -rf /"}"#[..],
                "unknown field",
            ),
            ("ping", b"rm -rf /", "JSON object"),
            ("ping", br#"{"id":"../../etc"}"#, "id must be"),
            ("ping", br#"{"id":""}"#, "id must be"),
            ("ping", br#"["id"]"#, "JSON object"),
            ("ping", &[b' '; MAX_PAYLOAD + 1], "limit"),
            ("Ping", b"", "unknown command"),
        ] {
            let e = parse(name, payload).unwrap_err();
            assert!(
                e.reason.contains(why),
                "{name} {:?}: {}",
                String::from_utf8_lossy(payload),
                e.reason
            );
        }
    }

    #[test]
    fn echoed_names_are_made_printable_and_short() {
        let e = parse(&format!("bad\u{7}name{}", "x".repeat(100)), b"").unwrap_err();
        assert_eq!(e.name.len(), 64);
        assert!(e.name.starts_with("bad?name"));
    }
}
