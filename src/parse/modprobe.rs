//! modprobe.d(5) files: one directive per line (`install`, `blacklist`, `options`...),
//! `#` comments, a trailing backslash continues the line on the next.

/// One directive, its module name normalised (`usb-storage` and `usb_storage` are the same
/// module to modprobe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub command: String,
    pub module: String,
    /// The rest of the line, whitespace collapsed (the command of `install`).
    pub args: String,
}

/// Module names compare with `-` and `_` as one character.
pub fn module_name(name: &str) -> String {
    name.replace('-', "_")
}

/// The directives of a file in order; lines without a module name are skipped.
pub fn parse(text: &str) -> Vec<Directive> {
    let mut out = Vec::new();
    super::joined_lines(text, |l| out.extend(directive(l)));
    out
}

fn directive(line: &str) -> Option<Directive> {
    let mut words = line.split_whitespace();
    let command = words.next().filter(|c| !c.starts_with('#'))?;
    let module = words.next()?;
    Some(Directive {
        command: command.to_string(),
        module: module_name(module),
        args: words.collect::<Vec<_>>().join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_with_comments_and_continuations() {
        let text = "# CIS\nblacklist usb-storage\ninstall usb-storage /bin/false \\\n  --quiet\n\n  # install usb_storage /bin/true\ninstall\noptions snd-hda-intel  power_save=1\n";
        let d = parse(text);
        assert_eq!(d.len(), 3);
        assert_eq!(
            d[0],
            Directive {
                command: "blacklist".into(),
                module: "usb_storage".into(),
                args: String::new()
            }
        );
        assert_eq!(d[1].module, "usb_storage");
        assert_eq!(d[1].args, "/bin/false --quiet");
        assert_eq!(d[2].module, "snd_hda_intel");
        assert_eq!(d[2].args, "power_save=1");
        assert_eq!(parse("install usb-storage \\")[0].args, "");
    }
}
