//! Xfconf channel files (`xfce-perchannel-xml/<channel>.xml`): nested `<property>`
//! elements with `name`, `value` and, in the system-wide files, `locked` (kiosk mode:
//! `locked="*"` locks a property, or a whole channel, for every user).
//!
//! A tag scanner, not an XML parser: it reads what xfconfd writes and what admins copy
//! from the Xfce documentation, and skips anything else.

/// One property with its full path (lowercased: xfconf names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub path: String,
    pub value: Option<String>,
    /// Locked for every user, by itself, an enclosing property or the channel.
    pub locked: bool,
}

/// A channel file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Channel {
    /// The whole channel locked for every user, properties absent from the file included
    /// (they keep the application's default).
    pub locked: bool,
    /// In document order.
    pub properties: Vec<Property>,
}

impl Channel {
    /// The property at `path` (lowercase, `/lock/enabled`).
    pub fn get(&self, path: &str) -> Option<&Property> {
        self.properties.iter().rev().find(|p| p.path == path)
    }

    /// Whether users cannot change `path`: the channel, the property or an enclosing one
    /// is locked for everyone.
    pub fn is_locked(&self, path: &str) -> bool {
        self.locked
            || self.properties.iter().any(|p| {
                p.locked
                    && path
                        .strip_prefix(p.path.as_str())
                        .is_some_and(|r| r.is_empty() || r.starts_with('/'))
            })
    }
}

/// Parses a channel file.
pub fn parse(text: &str) -> Channel {
    let mut out = Vec::new();
    // Enclosing open properties: (name, locked).
    let mut stack: Vec<(String, bool)> = Vec::new();
    let mut channel_locked = false;
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.trim() == "/property" {
            stack.pop();
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let (name, attrs) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        match name {
            "channel" => channel_locked |= all_users(attrs),
            "property" => {
                let Some(pname) = attr(attrs, "name") else {
                    continue;
                };
                let locked =
                    channel_locked || stack.last().is_some_and(|(_, l)| *l) || all_users(attrs);
                let mut path: String = stack.iter().map(|(n, _)| format!("/{n}")).collect();
                path.push('/');
                path.push_str(&pname.to_ascii_lowercase());
                out.push(Property {
                    path,
                    value: attr(attrs, "value").map(str::to_string),
                    locked,
                });
                if !self_closing {
                    stack.push((pname.to_ascii_lowercase(), locked));
                }
            }
            _ => {}
        }
    }
    Channel {
        locked: channel_locked,
        properties: out,
    }
}

/// Whether a tag's `locked` list (`*`, `@group`, `user`, comma-separated) includes
/// everyone and its `unlocked` exceptions, if any, are root alone (not a desktop user).
fn all_users(attrs: &str) -> bool {
    let list = |k| {
        attr(attrs, k)
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
    };
    list("locked").any(|x| x == "*") && list("unlocked").all(|x| x.is_empty() || x == "root")
}

/// The value of attribute `key="..."` (or single quotes) in a tag's attributes.
fn attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let mut s = attrs;
    loop {
        let s2 = s.trim_start();
        let (k, after) = s2.split_once('=')?;
        let after = after.trim_start();
        let q = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let (v, tail) = after[1..].split_once(q)?;
        if k.trim() == key {
            return Some(v);
        }
        s = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>

<channel name="xfce4-screensaver" version="1.0">
  <!-- <property name="ignored" type="bool" value="true"/> -->
  <property name="saver" type="empty">
    <property name="enabled" type="bool" value="true"/>
    <property name="idle-activation" type="empty" locked="*">
      <property name="Enabled" type="bool" value="true"/>
      <property name="delay" type="int" value="10"/>
    </property>
  </property>
  <property name="lock" type="empty">
    <property name="enabled" type="bool" value="false" locked="@staff,*"/>
  </property>
</channel>
"#;

    #[test]
    fn nested_paths_values_and_locks() {
        let p = parse(SAVER);
        assert_eq!(p.properties.len(), 7);
        assert!(!p.locked);
        let delay = p.get("/saver/idle-activation/delay").unwrap();
        assert_eq!(delay.value.as_deref(), Some("10"));
        assert!(delay.locked, "inherited from idle-activation");
        assert!(p.get("/saver/idle-activation/enabled").unwrap().locked);
        assert!(!p.get("/saver/enabled").unwrap().locked);
        let lock = p.get("/lock/enabled").unwrap();
        assert_eq!((lock.value.as_deref(), lock.locked), (Some("false"), true));
        assert!(p.get("/ignored").is_none());
        // Absent, under a locked property; absent elsewhere.
        assert!(p.is_locked("/saver/idle-activation/other"));
        assert!(!p.is_locked("/saver/idle-activation-x"));
        assert!(!p.is_locked("/lock/saver-activation/enabled"));
    }

    #[test]
    fn channel_lock_and_garbage() {
        let p = parse("<channel name=\"x\" version=\"1.0\" locked=\"*\"><property name=\"a\" type=\"int\" value='3'/></channel>");
        assert_eq!(
            p.properties,
            [Property {
                path: "/a".into(),
                value: Some("3".into()),
                locked: true
            }]
        );
        assert!(p.locked && p.is_locked("/absent"));
        let p = parse("<channel name=\"x\" locked=\"@wheel\"><property name=\"a\" value=\"1\"/>");
        assert!(!p.properties[0].locked && !p.is_locked("/a"));
        // Exceptions: root only still locks every desktop user; a group does not.
        let p = parse("<channel name=\"x\"><property name=\"a\" value=\"1\" locked=\"*\" unlocked=\"root\"/><property name=\"b\" value=\"1\" locked=\"*\" unlocked=\"@it\"/>");
        assert!(p.is_locked("/a") && !p.is_locked("/b"));
        assert_eq!(parse("<<<>>> <property <!-- \u{fffd}"), Channel::default());
        assert_eq!(parse(""), Channel::default());
    }
}
