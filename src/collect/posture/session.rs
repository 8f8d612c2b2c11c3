//! Local sessions on shared tablets: no automatic login, and a screen that locks when idle.
//! Evidence never names the account an automatic login opens.

use super::{sys, Check, Ctx, Rule, Severity, Status};
use crate::parse::keyfile;

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
    SCREEN_LOCK.check(
        Status::Unknown,
        format!(
            "{} installed; locking after idle is a per-user setting",
            lockers.join(", ")
        ),
    )
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
            &[("/var/lib/dpkg/status", &dpkg(&["lightdm", "light-locker"]))],
            screen_lock,
        );
        assert_eq!(c.status, Status::Unknown);
        assert!(c.evidence.contains("light-locker"));
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
}
