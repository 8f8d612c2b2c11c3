//! The `repositories:` list of a borgmatic configuration (YAML), read line by line: the
//! one thing the posture check needs, without a YAML library on the device.
//!
//! borgmatic 1.8 and later write `- path: ssh://...` items (with optional `label:`);
//! earlier versions a plain list of strings under `location:`. Both, and a flow list
//! `[a, b]`, are read; anything else under the key is ignored.

/// The repository locations in `text`, in order, quotes and comments removed.
pub fn repositories(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<usize> = None; // indent of the `repositories:` key
    for line in text.lines() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if let Some(key_indent) = block {
            // Items are deeper than the key, or at its level when they start with `-`.
            if indent > key_indent || (indent == key_indent && body.starts_with("- ")) {
                let item = body.strip_prefix("- ").map_or(body, str::trim_start);
                match key_value(item) {
                    Some(("path", v)) => out.push(scalar(v)),
                    Some(_) => {}
                    None if body.starts_with("- ") => out.push(scalar(item)),
                    None => {}
                }
                continue;
            }
            block = None;
        }
        if let Some(("repositories", v)) = key_value(body) {
            let v = strip_comment(v).trim();
            if let Some(flow) = v.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
                out.extend(flow.split(',').map(scalar).filter(|s| !s.is_empty()));
            } else if v.is_empty() {
                block = Some(indent);
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// `key: value` or `key:` with a plain key; not `user@host:repo` nor `ssh://...`.
fn key_value(s: &str) -> Option<(&str, &str)> {
    let (k, v) = s.split_once(':')?;
    let plain = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (plain && (v.is_empty() || v.starts_with([' ', '\t']))).then_some((k, v.trim()))
}

/// A `#` starts a comment when it begins the value or follows a space.
fn strip_comment(s: &str) -> &str {
    if s.starts_with('#') {
        return "";
    }
    s.find(" #").map_or(s, |i| &s[..i])
}

fn scalar(s: &str) -> String {
    let s = s.trim();
    let s = match s.as_bytes().first() {
        Some(q @ (b'"' | b'\'')) => s[1..].split(*q as char).next().unwrap_or(""),
        _ => strip_comment(s).trim(),
    };
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// borgmatic 1.8+ (`borgmatic config generate`), with a label and a comment.
    const NEW: &str = "\
source_directories:
    - /home
    - /etc

# Paths of local or remote repositories to back up to.
repositories:
    - path: ssh://k8pDxu32@k8pDxu32.repo.borgbase.com/./repo
      label: borgbase
    - path: /var/lib/backups/local.borg  # on the same disk
      label: local
    - label: nas
      path: \"/mnt/nas/borg\"

keep_daily: 7
";

    /// borgmatic 1.7 and earlier, items at the key's own indent.
    const OLD: &str = "\
location:
    source_directories:
        - /home
    repositories:
    - user@backupserver:sourcehostname.borg
    - 'sftp://user@host/./repo'
    one_file_system: true
storage:
    encryption_passphrase: \"repositories: not this\"
";

    #[test]
    fn new_format_paths() {
        assert_eq!(
            repositories(NEW),
            [
                "ssh://k8pDxu32@k8pDxu32.repo.borgbase.com/./repo",
                "/var/lib/backups/local.borg",
                "/mnt/nas/borg"
            ]
        );
    }

    #[test]
    fn old_format_strings() {
        assert_eq!(
            repositories(OLD),
            [
                "user@backupserver:sourcehostname.borg",
                "sftp://user@host/./repo"
            ]
        );
    }

    #[test]
    fn flow_list_comments_and_nothing() {
        assert_eq!(
            repositories("repositories: ['/a', \"b:c\"] # two\n"),
            ["/a", "b:c"]
        );
        assert!(repositories("#repositories:\n#  - /x\n").is_empty());
        assert!(repositories("source_directories:\n  - /home\n").is_empty());
        assert!(repositories("repositories:\nkeep_daily: 7\n").is_empty());
    }
}
