//! Local sessions on shared tablets: no automatic login, a screen that locks when idle,
//! and shells that time out. Evidence never names the account an automatic login opens.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::parse::{keyfile, xfconf};

const AUTOLOGIN: Rule = Rule {
    id: "session.autologin",
    title: "No automatic login (display manager or console)",
    severity: Severity::High,
    // An automatic login opens a local session that nobody authenticated.
    reference: "ANSSI BP-028 v2.0 R32 (Expirer les sessions utilisateur locales)",
};

const SCREEN_LOCK: Rule = Rule {
    id: "session.screen_lock",
    title: "Graphical sessions lock when idle",
    severity: Severity::Medium,
    reference: "ANSSI BP-028 v2.0 R32 (Expirer les sessions utilisateur locales)",
};

const CONSOLE_TIMEOUT: Rule = Rule {
    id: "session.console_timeout",
    title: "Idle shells time out (TMOUT of at most 900 seconds, read-only)",
    severity: Severity::Low,
    reference: "CIS Debian Linux 12 Benchmark: Ensure default user shell timeout is configured",
};

pub(super) const DISPLAY_MANAGERS: [&str; 8] = [
    "gdm3", "lightdm", "sddm", "nodm", "lxdm", "slim", "xdm", "greetd",
];
pub(super) const GRAPHICAL: [&str; 4] = ["xserver-xorg-core", "xwayland", "weston", "cage"];

/// Whether a graphical session can run here: `None` when dpkg is unreadable.
fn graphical(ctx: &Ctx) -> Option<Vec<&'static str>> {
    let mut found = ctx.installed_of(&DISPLAY_MANAGERS)?;
    found.extend(ctx.installed_of(&GRAPHICAL)?);
    Some(found)
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// Reads `paths` in order (later ones override) and returns the final value of `key` in
/// the sections accepted by `section`, with the file that set it.
fn last_value(
    ctx: &Ctx,
    paths: &[String],
    section: fn(&str) -> bool,
    key: &str,
) -> Option<(String, String)> {
    let mut last = None;
    for p in paths {
        if let Ok(text) = ctx.root.read(p) {
            for e in keyfile::ini(&text) {
                if section(e.section) && e.key == key {
                    last = Some((p.clone(), e.value.to_string()));
                }
            }
        }
    }
    last
}

/// Files of a conf.d layout in reading order: packaged dir, admin dir, then main file.
fn layered(ctx: &Ctx, dirs: &[&str], main: &str) -> Vec<String> {
    let mut v: Vec<String> = dirs
        .iter()
        .flat_map(|d| sys::glob(ctx.root, &format!("{d}/*.conf")))
        .collect();
    v.push(main.to_string());
    v
}

/// Where an automatic login is configured, one entry per finding.
fn autologins(ctx: &Ctx, installed: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    // agetty --autologin in a getty drop-in (how raspi-config sets console autologin).
    for f in sys::glob(ctx.root, "/etc/systemd/system/*getty@*.service.d/*.conf") {
        if let Ok(t) = ctx.root.read(&f) {
            if t.lines().any(|l| {
                l.trim_start().starts_with("ExecStart")
                    && (l.contains("--autologin") || l.contains(" -a "))
            }) {
                found.push(format!("agetty --autologin in {f}"));
            }
        }
    }
    if installed("gdm3") {
        for f in [
            "/etc/gdm3/daemon.conf",
            "/etc/gdm3/custom.conf",
            "/etc/gdm/custom.conf",
        ] {
            if let Ok(t) = ctx.root.read(f) {
                let e = keyfile::ini(&t);
                for key in ["AutomaticLoginEnable", "TimedLoginEnable"] {
                    if keyfile::ini_get(&e, "daemon", key).is_some_and(truthy) {
                        found.push(format!("gdm3 {key}=true in {f}"));
                    }
                }
            }
        }
    }
    if installed("lightdm") {
        let files = layered(
            ctx,
            &[
                "/usr/share/lightdm/lightdm.conf.d",
                "/etc/lightdm/lightdm.conf.d",
            ],
            "/etc/lightdm/lightdm.conf",
        );
        let seat: fn(&str) -> bool = |s| s.starts_with("Seat");
        if let Some((f, _)) =
            last_value(ctx, &files, seat, "autologin-user").filter(|(_, v)| !v.is_empty())
        {
            found.push(format!("lightdm autologin-user set in {f}"));
        }
        if let Some((f, _)) =
            last_value(ctx, &files, seat, "autologin-guest").filter(|(_, v)| truthy(v))
        {
            found.push(format!("lightdm autologin-guest=true in {f}"));
        }
    }
    if installed("sddm") {
        let files = layered(
            ctx,
            &["/usr/lib/sddm/sddm.conf.d", "/etc/sddm.conf.d"],
            "/etc/sddm.conf",
        );
        if let Some((f, _)) =
            last_value(ctx, &files, |s| s == "Autologin", "User").filter(|(_, v)| !v.is_empty())
        {
            found.push(format!("sddm [Autologin] User set in {f}"));
        }
    }
    if installed("greetd") {
        // A session started at boot without a greeter: greetd's autologin.
        if let Ok(t) = ctx.root.read("/etc/greetd/config.toml") {
            if keyfile::ini(&t)
                .iter()
                .any(|e| e.section == "initial_session")
            {
                found.push("greetd [initial_session] in /etc/greetd/config.toml".into());
            }
        }
    }
    if installed("lxdm") {
        if let Ok(t) = ctx.root.read("/etc/lxdm/lxdm.conf") {
            if keyfile::ini_get(&keyfile::ini(&t), "base", "autologin")
                .is_some_and(|v| !v.is_empty())
            {
                found.push("lxdm autologin set in /etc/lxdm/lxdm.conf".into());
            }
        }
    }
    if installed("slim") {
        if let Ok(t) = ctx.root.read("/etc/slim.conf") {
            // `key value` lines; the last one wins.
            let auto = t
                .lines()
                .filter_map(|l| l.trim().strip_prefix("auto_login"))
                .rfind(|rest| rest.starts_with([' ', '\t']))
                .is_some_and(|v| truthy(v.trim()));
            if auto {
                found.push("slim auto_login yes in /etc/slim.conf".into());
            }
        }
    }
    if installed("nodm") {
        if let Ok(t) = ctx.root.read("/etc/default/nodm") {
            if keyfile::shell_get(&keyfile::shell_vars(&t), "NODM_ENABLED").is_some_and(truthy) {
                found.push(
                    "nodm enabled (/etc/default/nodm), which always logs in automatically".into(),
                );
            }
        }
    }
    found
}

pub(super) fn autologin(ctx: &Ctx) -> Check {
    let gui = graphical(ctx);
    // Without dpkg, look at every display manager's files.
    let installed = |p: &str| ctx.installed(p).unwrap_or(true);
    let found = autologins(ctx, &installed);
    if !found.is_empty() {
        return AUTOLOGIN.check(Status::Fail, found.join("; "));
    }
    match gui {
        Some(g) if g.is_empty() => AUTOLOGIN.check(Status::NotApplicable, "no graphical session installed and no console autologin"),
        Some(g) => AUTOLOGIN.check(Status::Pass, format!("no autologin configured (checked {} and getty drop-ins)", g.join(", "))),
        None => AUTOLOGIN.check(Status::Pass, "no autologin in getty drop-ins or display manager files (dpkg not readable: all display managers checked)"),
    }
}

/// Screen lockers for non-GNOME desktops; whether they lock is a per-user setting.
pub(super) const LOCKERS: [&str; 10] = [
    "light-locker",
    "xscreensaver",
    "xfce4-screensaver",
    "mate-screensaver",
    "cinnamon-screensaver",
    "kscreenlocker",
    "swaylock",
    "xsecurelock",
    "i3lock",
    "xss-lock",
];

const GNOME_LOCK: &str = "/org/gnome/desktop/screensaver/lock-enabled";
const GNOME_IDLE: &str = "/org/gnome/desktop/session/idle-delay";

/// GNOME: system dconf databases that the user profile actually uses.
fn gnome(ctx: &Ctx) -> Check {
    let profile = ctx.root.read("/etc/dconf/profile/user").unwrap_or_default();
    let dbs: Vec<&str> = profile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("system-db:"))
        .collect();
    let (mut off, mut locked) = (Vec::new(), Vec::new());
    for db in &dbs {
        for f in sys::glob(ctx.root, &format!("/etc/dconf/db/{db}.d/*")) {
            let Ok(t) = ctx.root.read(&f) else { continue };
            let e = keyfile::ini(&t);
            if keyfile::ini_get(&e, "org/gnome/desktop/screensaver", "lock-enabled")
                == Some("false")
            {
                off.push(format!("lock-enabled=false in {f}"));
            }
            if keyfile::ini_get(&e, "org/gnome/desktop/session", "idle-delay")
                .is_some_and(|v| v.trim_start_matches("uint32").trim() == "0")
            {
                off.push(format!("idle-delay=0 in {f}"));
            }
        }
        for f in sys::glob(ctx.root, &format!("/etc/dconf/db/{db}.d/locks/*")) {
            let t = ctx.root.read(&f).unwrap_or_default();
            locked.extend(
                t.lines()
                    .map(str::trim)
                    .filter(|l| [GNOME_LOCK, GNOME_IDLE].contains(l))
                    .map(str::to_string),
            );
        }
    }
    if !off.is_empty() {
        return SCREEN_LOCK.check(Status::Fail, format!("GNOME: {}", off.join("; ")));
    }
    locked.sort();
    locked.dedup();
    if locked.len() == 2 {
        return SCREEN_LOCK.check(
            Status::Pass,
            format!(
                "GNOME: lock-enabled and idle-delay locked by system dconf ({})",
                dbs.join(", ")
            ),
        );
    }
    SCREEN_LOCK.check(Status::Unknown, "GNOME locks after idle by default, but users can change it (not locked in a system dconf database used by /etc/dconf/profile/user)")
}

pub(super) fn screen_lock(ctx: &Ctx) -> Check {
    let gui = match graphical(ctx) {
        None => {
            return SCREEN_LOCK.check(
                Status::Unknown,
                format!(
                    "cannot tell whether a graphical session is installed: {}",
                    ctx.dpkg.as_ref().err().map_or("", |e| e)
                ),
            )
        }
        Some(g) if g.is_empty() => {
            return SCREEN_LOCK.check(Status::NotApplicable, "no graphical session installed")
        }
        Some(g) => g,
    };
    if ctx.installed("gnome-shell") == Some(true) {
        return gnome(ctx);
    }
    let lockers = ctx.installed_of(&LOCKERS).unwrap_or_default();
    if lockers.is_empty() {
        return SCREEN_LOCK.check(Status::Fail, format!("{} installed but no screen locker (light-locker, xscreensaver, xfce4-screensaver, ...)", gui.join(", ")));
    }
    if lockers.contains(&"kscreenlocker") {
        if let Ok(t) = ctx.root.read("/etc/xdg/kscreenlockerrc") {
            if keyfile::ini_get(&keyfile::ini(&t), "Daemon", "Autolock") == Some("false") {
                return SCREEN_LOCK.check(
                    Status::Fail,
                    "KDE: Autolock=false in /etc/xdg/kscreenlockerrc",
                );
            }
        }
    }
    let mut notes = Vec::new();
    if lockers.contains(&"xfce4-screensaver") {
        match xfce(ctx) {
            Ok(decided) => return decided,
            Err(note) => notes.push(note),
        }
    }
    if lockers.contains(&"light-locker") {
        match light_locker_autostart(ctx) {
            (Some(true), _) => notes.push("light-locker starts with every session (/etc/xdg/autostart/light-locker.desktop) and locks when the screen blanks, but when the screen blanks (X screensaver/DPMS timeout) is a per-user setting".into()),
            (Some(false), why) if lockers == ["light-locker"] => {
                return SCREEN_LOCK.check(Status::Fail, format!("light-locker is the only screen locker and does not start with sessions: {why}"))
            }
            (Some(false), why) => notes.push(format!("light-locker does not start with sessions: {why}")),
            (None, why) => notes.push(format!("light-locker: {why}")),
        }
    }
    let others: Vec<&str> = lockers
        .iter()
        .copied()
        .filter(|l| !["xfce4-screensaver", "light-locker"].contains(l))
        .collect();
    if !others.is_empty() {
        notes.push(format!(
            "{} installed; locking after idle is a per-user setting",
            others.join(", ")
        ));
    }
    SCREEN_LOCK.check(Status::Unknown, notes.join("; "))
}

const XFCE_SAVER: &str = "/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-screensaver.xml";

/// xfce4-screensaver's switches and their defaults (all on), then the idle delay.
const XFCE_SWITCHES: [&str; 4] = [
    "/saver/enabled",
    "/saver/idle-activation/enabled",
    "/lock/enabled",
    "/lock/saver-activation/enabled",
];
const XFCE_DELAY: &str = "/saver/idle-activation/delay";

/// Xfce: the system-wide xfconf defaults of xfce4-screensaver. Users' own xfconf files
/// override them unless kiosk mode locks them (`locked="*"`). `Err` carries a note when
/// this decides nothing.
fn xfce(ctx: &Ctx) -> Result<Check, String> {
    let text = match ctx.root.read(XFCE_SAVER) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("xfce4-screensaver: {XFCE_SAVER} {}", sys::why(&e))),
    };
    let channel = xfconf::parse(&text);
    let off: Vec<&str> = XFCE_SWITCHES
        .iter()
        .copied()
        .filter(|k| channel.get(k).and_then(|p| p.value.as_deref()) == Some("false"))
        .collect();
    if !off.is_empty() {
        return Ok(SCREEN_LOCK.check(
            Status::Fail,
            format!("Xfce: {} = false in {XFCE_SAVER}", off.join(", ")),
        ));
    }
    let locked = XFCE_SWITCHES
        .iter()
        .chain([&XFCE_DELAY])
        .all(|k| channel.is_locked(k));
    if !locked {
        return Err(format!("xfce4-screensaver locks after idle by default, but users can change it (not locked with locked=\"*\" in {XFCE_SAVER})"));
    }
    let delay = channel
        .get(XFCE_DELAY)
        .and_then(|p| p.value.clone())
        .unwrap_or_else(|| "5".into());
    Ok(SCREEN_LOCK.check(
        Status::Pass,
        format!("Xfce: screensaver and lock enabled and locked for all users in {XFCE_SAVER} (idle delay {delay} min)"),
    ))
}

/// Whether light-locker's system autostart entry starts it with every session (`None`:
/// unreadable), and why not.
fn light_locker_autostart(ctx: &Ctx) -> (Option<bool>, String) {
    const DESKTOP: &str = "/etc/xdg/autostart/light-locker.desktop";
    match ctx.root.read(DESKTOP) {
        Ok(t)
            if keyfile::ini_get(&keyfile::ini(&t), "Desktop Entry", "Hidden")
                .is_some_and(truthy) =>
        {
            (Some(false), format!("Hidden=true in {DESKTOP}"))
        }
        Ok(_) => (Some(true), String::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (Some(false), format!("{DESKTOP} absent"))
        }
        Err(e) => (None, format!("{DESKTOP} {}", sys::why(&e))),
    }
}

/// Where an interactive shell's TMOUT comes from: read in this order; a `readonly`
/// freezes the value, as bash refuses later assignments.
const SHELL_FILES: [&str; 2] = ["/etc/profile", "/etc/bash.bashrc"];

#[derive(Debug, Default, PartialEq, Eq)]
struct Tmout {
    /// The value and the file that set it.
    value: Option<(String, String)>,
    readonly: Option<String>,
}

impl Tmout {
    fn assign(&mut self, v: &str, file: &str) {
        if self.readonly.is_none() {
            self.value = Some((v.trim_matches(['"', '\'']).to_string(), file.to_string()));
        }
    }

    /// Follows the TMOUT assignments and `readonly` declarations of a shell file.
    fn read(&mut self, text: &str, file: &str) {
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let line = line.find(" #").map_or(line, |i| &line[..i]);
            for stmt in line.split([';', '&', '|']) {
                let mut words = stmt
                    .split_whitespace()
                    .skip_while(|w| ["then", "else", "do", "{", "("].contains(w));
                let Some(first) = words.next() else { continue };
                let args: Vec<&str> = words.collect();
                if let Some(v) = first.strip_prefix("TMOUT=") {
                    self.assign(v, file);
                    continue;
                }
                let ro = match first {
                    "readonly" => true,
                    "declare" | "typeset" => {
                        args.iter().any(|a| a.starts_with('-') && a.contains('r'))
                    }
                    "export" => false,
                    _ => continue,
                };
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    let (name, value) = a.split_once('=').map_or((*a, None), |(n, v)| (n, Some(v)));
                    if name != "TMOUT" {
                        continue;
                    }
                    if let Some(v) = value {
                        self.assign(v, file);
                    }
                    if ro && self.readonly.is_none() {
                        self.readonly = Some(file.to_string());
                    }
                }
            }
        }
    }
}

pub(super) fn console_timeout(ctx: &Ctx) -> Check {
    let mut files: Vec<String> = SHELL_FILES.iter().map(|f| f.to_string()).collect();
    files.extend(sys::glob(ctx.root, "/etc/profile.d/*.sh"));
    let mut t = Tmout::default();
    let mut unreadable = Vec::new();
    for f in &files {
        match ctx.root.read(f) {
            Ok(text) => t.read(&text, f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => unreadable.push(format!("{f} {}", sys::why(&e))),
        }
    }
    let Some((value, file)) = t.value else {
        if !unreadable.is_empty() {
            return CONSOLE_TIMEOUT.check(
                Status::Unknown,
                format!("TMOUT not found, and {}", unreadable.join("; ")),
            );
        }
        return CONSOLE_TIMEOUT.check(
            Status::Fail,
            "TMOUT not set in /etc/profile, /etc/profile.d/*.sh or /etc/bash.bashrc: idle shells stay open",
        );
    };
    let fail = |why: String| CONSOLE_TIMEOUT.check(Status::Fail, why);
    match value.parse::<u64>() {
        Ok(0) => fail(format!("TMOUT=0 in {file}: no timeout")),
        Ok(n) if n > 900 => fail(format!("TMOUT={n} in {file}: more than 900 seconds")),
        Ok(n) => match t.readonly {
            Some(ro) => CONSOLE_TIMEOUT.check(
                Status::Pass,
                format!("TMOUT={n} in {file}, read-only ({ro})"),
            ),
            None => fail(format!(
                "TMOUT={n} in {file} but not readonly: a user can unset it"
            )),
        },
        Err(_) => fail(format!(
            "TMOUT={value} in {file} is not a number of seconds"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::dpkg;
    use super::super::Status;
    use super::*;

    use super::super::testutil::run_check as run;

    /// Raspberry Pi OS desktop with autologin, as raspi-config leaves it.
    const RPI_LIGHTDM: &str = "[LightDM]\n[Seat:*]\ngreeter-session=pi-greeter-labwc\nautologin-user=soignant\nautologin-session=LXDE-pi-labwc\n";

    #[test]
    fn autologin_lightdm_fails_without_naming_the_user() {
        let pkgs = dpkg(&["lightdm", "xserver-xorg-core", "light-locker"]);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                ("/etc/lightdm/lightdm.conf", RPI_LIGHTDM),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(!c.evidence.contains("soignant"));
        // An admin drop-in cannot undo the main file, which is read last.
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                (
                    "/etc/lightdm/lightdm.conf.d/50-off.conf",
                    "[Seat:*]\nautologin-user=\n",
                ),
                ("/etc/lightdm/lightdm.conf", RPI_LIGHTDM),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Fail);
        // ...but the main file emptying it does.
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                ("/usr/share/lightdm/lightdm.conf.d/01-x.conf", RPI_LIGHTDM),
                (
                    "/etc/lightdm/lightdm.conf",
                    "[Seat:*]\n#autologin-user=x\nautologin-user=\n",
                ),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
    }

    /// The kiosk display managers: greetd's initial session, lxdm's and slim's autologin.
    #[test]
    fn autologin_greetd_lxdm_slim() {
        let cases: [(&str, &str, &str, bool); 6] = [
            ("greetd", "/etc/greetd/config.toml", "[terminal]\nvt = 1\n[default_session]\ncommand = \"agreety\"\n[initial_session]\ncommand = \"cage firefox\"\nuser = \"kiosk\"\n", true),
            ("greetd", "/etc/greetd/config.toml", "[terminal]\nvt = 1\n[default_session]\ncommand = \"agreety\"\n", false),
            ("lxdm", "/etc/lxdm/lxdm.conf", "[base]\nautologin=kiosk\n", true),
            ("lxdm", "/etc/lxdm/lxdm.conf", "[base]\n# autologin=dgod\n", false),
            ("slim", "/etc/slim.conf", "default_user kiosk\nauto_login yes\n", true),
            ("slim", "/etc/slim.conf", "# auto_login yes\nauto_login no\n", false),
        ];
        for (dm, path, text, auto) in cases {
            let pkgs = dpkg(&[dm]);
            let c = run(&[("/var/lib/dpkg/status", &pkgs), (path, text)], autologin);
            let want = if auto { Status::Fail } else { Status::Pass };
            assert_eq!(c.status, want, "{dm}: {}", c.evidence);
            assert!(!c.evidence.contains("kiosk"), "{}", c.evidence);
        }
    }

    #[test]
    fn autologin_gdm_sddm_nodm_getty() {
        let gdm = dpkg(&["gdm3"]);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &gdm),
                (
                    "/etc/gdm3/daemon.conf",
                    "[daemon]\nAutomaticLoginEnable = true\nAutomaticLogin = soignant\n",
                ),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Fail);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &gdm),
                (
                    "/etc/gdm3/daemon.conf",
                    "[daemon]\n#AutomaticLoginEnable = true\n",
                ),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Pass);
        let sddm = dpkg(&["sddm"]);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &sddm),
                (
                    "/etc/sddm.conf.d/kiosk.conf",
                    "[Autologin]\nUser=kiosk\nSession=plasma\n",
                ),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Fail);
        let nodm = dpkg(&["nodm"]);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &nodm),
                ("/etc/default/nodm", "NODM_ENABLED=true\nNODM_USER=kiosk\n"),
            ],
            autologin,
        );
        assert_eq!(c.status, Status::Fail);
        let none = dpkg(&["openssh-server"]);
        let c = run(&[("/var/lib/dpkg/status", &none)], autologin);
        assert_eq!(c.status, Status::NotApplicable);
        let c = run(
            &[("/var/lib/dpkg/status", &none), ("/etc/systemd/system/getty@tty1.service.d/autologin.conf", "[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin pi --noclear %I $TERM\n")],
            autologin,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(!c.evidence.contains("pi "));
    }

    #[test]
    fn screen_lock_gnome_dconf() {
        let pkgs = dpkg(&["gdm3", "gnome-shell"]);
        let profile = ("/etc/dconf/profile/user", "user-db:user\nsystem-db:local\n");
        let c = run(&[("/var/lib/dpkg/status", &pkgs), profile], screen_lock);
        assert_eq!(c.status, Status::Unknown);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                profile,
                ("/etc/dconf/db/local.d/00-screensaver", "[org/gnome/desktop/session]\nidle-delay=uint32 300\n[org/gnome/desktop/screensaver]\nlock-enabled=true\n"),
                ("/etc/dconf/db/local.d/locks/screensaver", "/org/gnome/desktop/session/idle-delay\n/org/gnome/desktop/screensaver/lock-enabled\n"),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                profile,
                (
                    "/etc/dconf/db/local.d/00-kiosk",
                    "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
                ),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Fail);
        // A database the profile does not use changes nothing.
        let c = run(
            &[
                ("/var/lib/dpkg/status", &pkgs),
                (
                    "/etc/dconf/db/local.d/00-kiosk",
                    "[org/gnome/desktop/screensaver]\nlock-enabled=false\n",
                ),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Unknown);
    }

    #[test]
    fn screen_lock_other_desktops() {
        let c = run(
            &[(
                "/var/lib/dpkg/status",
                &dpkg(&["lightdm", "xserver-xorg-core"]),
            )],
            screen_lock,
        );
        assert_eq!(c.status, Status::Fail);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &dpkg(&["lightdm", "light-locker"])),
                (LIGHT_LOCKER, LIGHT_LOCKER_DESKTOP),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("per-user setting"), "{}", c.evidence);
        let c = run(
            &[
                ("/var/lib/dpkg/status", &dpkg(&["sddm", "kscreenlocker"])),
                ("/etc/xdg/kscreenlockerrc", "[Daemon]\nAutolock=false\n"),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            run(&[("/var/lib/dpkg/status", "")], screen_lock).status,
            Status::NotApplicable
        );
        assert_eq!(run(&[], screen_lock).status, Status::Unknown);
    }

    const LIGHT_LOCKER: &str = "/etc/xdg/autostart/light-locker.desktop";
    /// As the Debian package ships it.
    const LIGHT_LOCKER_DESKTOP: &str = "[Desktop Entry]\nName=Screen Locker\nExec=light-locker\nTerminal=false\nType=Application\nNoDisplay=true\nNotShowIn=GNOME;Unity;\n";

    #[test]
    fn screen_lock_light_locker_never_passes() {
        let pkgs = dpkg(&["lightdm", "light-locker"]);
        // Autostart removed or hidden, and no other locker: nothing locks.
        let c = run(&[("/var/lib/dpkg/status", &pkgs)], screen_lock);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("does not start with sessions"));
        let hidden = format!("{LIGHT_LOCKER_DESKTOP}Hidden=true\n");
        let c = run(
            &[("/var/lib/dpkg/status", &pkgs), (LIGHT_LOCKER, &hidden)],
            screen_lock,
        );
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("Hidden=true"));
        // Hidden, but another locker is there: undecided.
        let c = run(
            &[
                (
                    "/var/lib/dpkg/status",
                    &dpkg(&["lightdm", "light-locker", "xss-lock"]),
                ),
                (LIGHT_LOCKER, &hidden),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("xss-lock installed"), "{}", c.evidence);
        // An autostart entry that cannot be read decides nothing.
        let dir = tempfile::tempdir().unwrap();
        super::super::testutil::write(dir.path(), &[("/var/lib/dpkg/status", &pkgs)]);
        crate::fsutil::testing::mkfifo(&dir.path().join(LIGHT_LOCKER.trim_start_matches('/')));
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let c = screen_lock(&Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
    }

    const XFCE_LOCKED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-screensaver" version="1.0" locked="*">
  <property name="saver" type="empty">
    <property name="idle-activation" type="empty">
      <property name="delay" type="int" value="10"/>
    </property>
  </property>
</channel>
"#;

    #[test]
    fn screen_lock_xfce_system_defaults() {
        let pkgs = dpkg(&["lightdm", "xfce4-screensaver"]);
        let status = ("/var/lib/dpkg/status", pkgs.as_str());
        // No system file: defaults lock, but users can change them.
        let c = run(&[status], screen_lock);
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("users can change it"), "{}", c.evidence);
        // The whole channel locked for everyone.
        let c = run(&[status, (XFCE_SAVER, XFCE_LOCKED)], screen_lock);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c.evidence.contains("idle delay 10 min"));
        // Locked for one group only: still a per-user matter for the others.
        let group = XFCE_LOCKED.replace("locked=\"*\"", "locked=\"@staff\"");
        let c = run(&[status, (XFCE_SAVER, &group)], screen_lock);
        assert_eq!(c.status, Status::Unknown);
        // Each property locked, one switch left out: not enough.
        let props = r#"<channel name="xfce4-screensaver" version="1.0">
  <property name="saver" type="empty">
    <property name="enabled" type="bool" value="true" locked="*"/>
    <property name="idle-activation" type="empty" locked="*">
      <property name="enabled" type="bool" value="true"/>
      <property name="delay" type="int" value="5"/>
    </property>
  </property>
  <property name="lock" type="empty">
    <property name="enabled" type="bool" value="true" locked="*"/>
  </property>
</channel>"#;
        let c = run(&[status, (XFCE_SAVER, props)], screen_lock);
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        let all = props.replace(
            "</property>\n</channel>",
            "<property name=\"saver-activation\" type=\"empty\"><property name=\"enabled\" type=\"bool\" value=\"true\" locked=\"*\"/></property>\n  </property>\n</channel>",
        );
        let c = run(&[status, (XFCE_SAVER, &all)], screen_lock);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        // The system default turns locking off: fail, locked or not.
        let off = props.replace(
            "name=\"enabled\" type=\"bool\" value=\"true\" locked=\"*\"/>\n  </property>\n</channel>",
            "name=\"enabled\" type=\"bool\" value=\"false\"/>\n  </property>\n</channel>",
        );
        assert_ne!(off, props);
        let c = run(&[status, (XFCE_SAVER, &off)], screen_lock);
        assert_eq!(c.status, Status::Fail, "{}", c.evidence);
        assert!(c.evidence.contains("/lock/enabled = false"));
        // xfce4-power-manager's lock on suspend is not an idle lock.
        let c = run(
            &[
                ("/var/lib/dpkg/status", &dpkg(&["lightdm", "xfce4-power-manager"])),
                (
                    "/etc/xdg/xfce4/xfconf/xfce-perchannel-xml/xfce4-power-manager.xml",
                    "<channel name=\"xfce4-power-manager\" version=\"1.0\" locked=\"*\"><property name=\"xfce4-power-manager\" type=\"empty\"><property name=\"lock-screen-suspend-hibernate\" type=\"bool\" value=\"true\"/></property></channel>",
                ),
            ],
            screen_lock,
        );
        assert_eq!(c.status, Status::Fail);
    }

    fn timeout(files: &[(&str, &str)]) -> Check {
        run(files, console_timeout)
    }

    /// Shell snippets as CIS and admins write them: (text, expected TMOUT, read-only).
    const TMOUT_CASES: [(&str, Option<&str>, bool); 8] = [
        (
            "TMOUT=900\nreadonly TMOUT\nexport TMOUT\n",
            Some("900"),
            true,
        ),
        ("readonly TMOUT=600 ; export TMOUT\n", Some("600"), true),
        ("declare -rx TMOUT=300\n", Some("300"), true),
        ("typeset -xr TMOUT=\"120\"\n", Some("120"), true),
        ("export TMOUT=600\n", Some("600"), false),
        ("# TMOUT=600\n#readonly TMOUT\n", None, false),
        (
            "if [ -n \"$BASH\" ]; then TMOUT=600; fi\nreadonly TMOUT\n",
            Some("600"),
            true,
        ),
        // readonly first: the later assignment is refused by bash.
        ("TMOUT=300; readonly TMOUT\nTMOUT=0\n", Some("300"), true),
    ];

    #[test]
    fn tmout_reading() {
        for (text, value, ro) in TMOUT_CASES {
            let mut t = Tmout::default();
            t.read(text, "f");
            assert_eq!(t.value.map(|(v, _)| v).as_deref(), value, "{text:?}");
            assert_eq!(t.readonly.is_some(), ro, "{text:?}");
        }
    }

    #[test]
    fn console_timeout_cases() {
        let c = timeout(&[(
            "/etc/profile.d/99-tmout.sh",
            "TMOUT=900\nreadonly TMOUT\nexport TMOUT\n",
        )]);
        assert_eq!(c.status, Status::Pass, "{}", c.evidence);
        assert!(c
            .evidence
            .contains("TMOUT=900 in /etc/profile.d/99-tmout.sh"));
        let c = timeout(&[("/etc/bash.bashrc", "export TMOUT=600\n")]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("not readonly"));
        let c = timeout(&[("/etc/profile", "readonly TMOUT=1800\n")]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("more than 900"));
        let c = timeout(&[("/etc/profile", "readonly TMOUT=0\n")]);
        assert_eq!(c.status, Status::Fail);
        let c = timeout(&[("/etc/profile", "readonly TMOUT=$X\n")]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.contains("not a number"));
        let c = timeout(&[
            ("/etc/profile", "# nothing\n"),
            ("/etc/profile.d/x.sh.bak", "readonly TMOUT=60\n"),
        ]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.evidence.starts_with("TMOUT not set"));
        // A file that cannot be read leaves it open.
        let dir = tempfile::tempdir().unwrap();
        crate::fsutil::testing::mkfifo(&dir.path().join("etc/profile"));
        let root = crate::collect::Root::at(dir.path()).with_live(dir.path());
        let c = console_timeout(&Ctx::load(&root));
        assert_eq!(c.status, Status::Unknown, "{}", c.evidence);
        // A stray non-UTF-8 byte (read as U+FFFD) changes nothing.
        let c = timeout(&[("/etc/profile", "# caf\u{fffd}\nreadonly TMOUT=600\n")]);
        assert_eq!(c.status, Status::Pass);
    }

    /// bash itself agrees with our reading of each snippet.
    #[test]
    fn tmout_agrees_with_bash() {
        let bash = "/bin/bash";
        if !std::path::Path::new(bash).exists() {
            eprintln!("bash not installed: comparison skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for (i, (text, _, _)) in TMOUT_CASES.iter().enumerate() {
            let f = dir.path().join(format!("s{i}.sh"));
            std::fs::write(&f, text).unwrap();
            let out = std::process::Command::new(bash)
                .args([
                    "--noprofile",
                    "--norc",
                    "-c",
                    "source \"$1\" 2>/dev/null; echo \"TMOUT=$TMOUT\"; readonly -p",
                    "sh",
                ])
                .arg(&f)
                .output()
                .unwrap();
            let text_out = String::from_utf8_lossy(&out.stdout);
            let theirs_value = text_out
                .lines()
                .find_map(|l| l.strip_prefix("TMOUT="))
                .filter(|v| !v.is_empty());
            let theirs_ro = text_out
                .lines()
                .any(|l| l.starts_with("declare -r") && l.contains(" TMOUT"));
            let mut ours = Tmout::default();
            ours.read(text, "f");
            assert_eq!(
                ours.value.map(|(v, _)| v).as_deref(),
                theirs_value,
                "{text:?}"
            );
            assert_eq!(ours.readonly.is_some(), theirs_ro, "{text:?}: {text_out}");
        }
    }
}
