//! Differential tests of the patch report against apt itself.
//!
//! Each test builds a system root (dpkg status, sources, Release files, package lists in
//! every form apt stores them, preferences, apt configuration), asks apt
//! (`apt list --upgradable`, isolated from this machine's apt configuration through
//! `APT_CONFIG`) and the agent (`grappe-agent collect --only patches --root ROOT`), and
//! requires the same packages, versions and security flags, or, where apt refuses to work,
//! that the agent says it cannot tell. The last test does the same on this machine's own
//! state, with apt as configured here.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One upgradable package: (name, arch, installed, candidate, security).
type Row = (String, String, String, String, bool);

/// What a tool answered: the upgradable packages, or a refusal (and why).
type Answer = Result<BTreeSet<Row>, String>;

struct Root {
    dir: tempfile::TempDir,
}

/// How a list is stored.
#[derive(Clone, Copy, Debug)]
enum Store {
    Plain,
    Gz,
    Xz,
    Lz4,
}

/// One archive of the fixture: a site (host/path), a suite, its Release fields.
struct Archive<'a> {
    site: &'a str,
    suite: &'a str,
    release: &'a str,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let r = Root { dir };
        for d in [
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "var/lib/apt/lists/partial",
            "var/lib/dpkg",
            "cache",
        ] {
            std::fs::create_dir_all(r.path(d)).unwrap();
        }
        r.write(
            "etc/apt/apt.conf.d/00test",
            "APT::Architecture \"amd64\";\n",
        );
        r.write("var/lib/dpkg/status", "");
        // What makes the tree a system for `--root` (the agent refuses one that is not).
        r.write("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n");
        r.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
        // apt reads this file first: it moves every directory apt uses under the root,
        // this machine's apt configuration included, and makes dpkg answer for the root.
        let root = r.dir.path().display();
        r.write(
            "apt-test.conf",
            &format!(
                "Dir \"{root}/\";\nDir::State::status \"{root}/var/lib/dpkg/status\";\nDir::Cache \"{root}/cache/\";\nDir::Cache::pkgcache \"\";\nDir::Cache::srcpkgcache \"\";\nDPkg::Options {{ \"--admindir={root}/var/lib/dpkg\"; }};\nDebug::NoLocking \"true\";\n"
            ),
        );
        r
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// dpkg's status: `(name, arch, version, extra fields)`, installed.
    fn installed(&self, pkgs: &[(&str, &str, &str, &str)]) {
        let mut text = String::new();
        for (name, arch, version, extra) in pkgs {
            text.push_str(&format!(
                "Package: {name}\nStatus: install ok installed\nPriority: optional\nArchitecture: {arch}\nVersion: {version}\n{extra}Description: {name}\n\n"
            ));
        }
        self.write("var/lib/dpkg/status", &text);
    }

    /// An archive in `sources.list.d/test.list`, its Release file and one list per
    /// `(component, arch, records, store)`.
    fn archive(&self, a: &Archive, lists: &[(&str, &str, &str, Store)]) {
        let (host, path) = a.site.split_once('/').unwrap();
        let base = format!("{host}_{}_dists_{}", path.replace('/', "_"), a.suite);
        let components: BTreeSet<&str> = lists.iter().map(|l| l.0).collect();
        let line = format!(
            "deb http://{} {} {}\n",
            a.site,
            a.suite,
            components.into_iter().collect::<Vec<_>>().join(" ")
        );
        let sources = self.path("etc/apt/sources.list.d/test.list");
        let mut old = std::fs::read_to_string(&sources).unwrap_or_default();
        old.push_str(&line);
        std::fs::write(sources, old).unwrap();
        self.write(
            &format!("var/lib/apt/lists/{base}_Release"),
            &format!("{}Date: Tue, 01 Dec 2026 00:00:00 UTC\n", a.release),
        );
        for (component, arch, records, store) in lists {
            let name = format!("var/lib/apt/lists/{base}_{component}_binary-{arch}_Packages");
            self.store(&name, records, *store);
        }
    }

    /// Writes a list as apt would keep it.
    fn store(&self, rel: &str, text: &str, store: Store) {
        let plain = self.path(rel);
        std::fs::write(&plain, text).unwrap();
        let mut cmd = match store {
            Store::Plain => return,
            Store::Gz => Command::new("gzip"),
            Store::Xz => Command::new("xz"),
            Store::Lz4 => Command::new("lz4"),
        };
        match store {
            Store::Lz4 => cmd
                .args(["-q", "-1", "-f", "--rm"])
                .arg(&plain)
                .arg(format!("{}.lz4", plain.display())),
            _ => cmd.args(["-f", "-9"]).arg(&plain),
        };
        let ok = cmd
            .status()
            .expect("the compressor runs (gzip, xz-utils, lz4)");
        assert!(ok.success());
    }

    fn apt(&self) -> Answer {
        let out = Command::new("apt")
            .args(["list", "--upgradable"])
            .env("APT_CONFIG", self.path("apt-test.conf"))
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("apt runs");
        parse_apt(&out)
    }

    fn ours(&self) -> Answer {
        ours(Some(self.dir.path()), None)
    }

    /// The agent's answer with its memo in `state` (kept across calls).
    fn ours_memo(&self, state: &Path) -> Answer {
        ours(Some(self.dir.path()), Some(state))
    }

    /// Asks both and requires the same answer; returns it.
    fn same(&self) -> Answer {
        let apt = self.apt();
        let ours = self.ours();
        match (&apt, &ours) {
            (Ok(a), Ok(o)) => assert_eq!(o, a, "agent vs apt"),
            (Err(_), Err(_)) => {}
            _ => panic!("apt: {apt:?}\nagent: {ours:?}"),
        }
        apt
    }
}

fn parse_apt(out: &std::process::Output) -> Answer {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut rows = BTreeSet::new();
    for line in stdout.lines().filter(|l| l.contains("[upgradable from: ")) {
        // name/archive[,archive...] candidate arch [upgradable from: installed]
        let (name, rest) = line.split_once('/').unwrap();
        let mut words = rest.split_whitespace();
        let archives = words.next().unwrap();
        let candidate = words.next().unwrap();
        let arch = words.next().unwrap();
        let installed = line
            .rsplit_once("[upgradable from: ")
            .unwrap()
            .1
            .trim_end_matches(']');
        let security = archives.split(',').any(|a| a.ends_with("-security"));
        rows.insert((
            name.to_owned(),
            arch.to_owned(),
            installed.to_owned(),
            candidate.to_owned(),
            security,
        ));
    }
    Ok(rows)
}

/// The agent's answer for `root` (`None`: this machine), with a memo in `state`.
fn ours(root: Option<&Path>, state: Option<&Path>) -> Answer {
    let mut cmd = common::agent();
    cmd.args(["collect", "--only", "patches"]);
    if let Some(root) = root {
        cmd.arg("--root").arg(root);
    }
    if let Some(state) = state {
        cmd.arg("--state-dir").arg(state);
    }
    let out = cmd.output().expect("agent runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let data = &report["data"];
    let Some(list) = data["upgradable"].as_array() else {
        assert!(data["upgradable_count"].is_null() && data["security_count"].is_null());
        return Err(data["problems"].to_string());
    };
    assert_eq!(data["upgradable_count"].as_u64(), Some(list.len() as u64));
    let rows: BTreeSet<Row> = list
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap().to_owned();
            (
                s("name"),
                s("arch"),
                s("installed"),
                s("candidate"),
                u["security"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        data["security_count"].as_u64(),
        Some(rows.iter().filter(|r| r.4).count() as u64)
    );
    Ok(rows)
}

/// A list record.
fn pkg(name: &str, version: &str, arch: &str, extra: &str) -> String {
    format!(
        "Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@example.org>\nInstalled-Size: 10\n{extra}Filename: pool/{name}_{version}_{arch}.deb\nSize: 1000\nSHA256: 0123456789abcdef\nDescription: {name}\nDescription-md5: 0123456789abcdef0123456789abcdef\n\n"
    )
}

fn row(name: &str, arch: &str, installed: &str, candidate: &str, security: bool) -> Row {
    (
        name.into(),
        arch.into(),
        installed.into(),
        candidate.into(),
        security,
    )
}

const STABLE: Archive = Archive {
    site: "deb.test/debian",
    suite: "bookworm",
    release: "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\nVersion: 12.8\nComponents: main contrib\nArchitectures: amd64 i386\n",
};
const SECURITY: Archive = Archive {
    site: "security.test/debian-security",
    suite: "bookworm-security",
    release: "Origin: Debian\nLabel: Debian-Security\nSuite: stable-security\nCodename: bookworm-security\nVersion: 12\nComponents: updates/main\n",
};
const BACKPORTS: Archive = Archive {
    site: "deb.test/debian",
    suite: "bookworm-backports",
    release: "Origin: Debian Backports\nLabel: Debian Backports\nSuite: stable-backports\nCodename: bookworm-backports\nNotAutomatic: yes\nButAutomaticUpgrades: yes\n",
};
const EXPERIMENTAL: Archive = Archive {
    site: "deb.test/debian",
    suite: "experimental",
    release: "Origin: Debian\nLabel: Debian\nSuite: experimental\nCodename: rc-buggy\nNotAutomatic: yes\n",
};

/// A small system: three installed packages, a stable and a security archive.
fn basic(store: Store) -> Root {
    let r = Root::new();
    r.installed(&[
        ("base-files", "amd64", "12.4+deb12u5", ""),
        ("openssl", "amd64", "3.0.11-1~deb12u2", ""),
        ("tzdata", "all", "2024a-0+deb12u1", ""),
        ("local-tool", "amd64", "1.0", ""),
    ]);
    let stable = [
        pkg("base-files", "12.4+deb12u8", "amd64", ""),
        pkg(
            "openssl",
            "3.0.15-1~deb12u1",
            "amd64",
            "Depends: libc6 (>= 2.34), libssl3 (>= 3.0.9)\n",
        ),
        pkg("tzdata", "2024b-0+deb12u1", "all", ""),
        pkg("not-installed", "9.9", "amd64", ""),
    ]
    .concat();
    r.archive(&STABLE, &[("main", "amd64", &stable, store)]);
    let security = pkg(
        "openssl",
        "3.0.15-1~deb12u2",
        "amd64",
        "Depends: libc6 (>= 2.34)\n",
    );
    r.archive(&SECURITY, &[("main", "amd64", &security, store)]);
    r
}

#[test]
fn plain_and_every_compression_give_apts_answer() {
    for store in [Store::Plain, Store::Gz, Store::Xz, Store::Lz4] {
        let r = basic(store);
        let answer = r.same().unwrap();
        let want: BTreeSet<Row> = [
            row("base-files", "amd64", "12.4+deb12u5", "12.4+deb12u8", false),
            row(
                "openssl",
                "amd64",
                "3.0.11-1~deb12u2",
                "3.0.15-1~deb12u2",
                true,
            ),
            row("tzdata", "all", "2024a-0+deb12u1", "2024b-0+deb12u1", false),
        ]
        .into();
        assert_eq!(answer, want, "{store:?}");
    }
}

#[test]
fn pins_of_every_kind() {
    let prefs: &[(&str, &str)] = &[
        // Nothing from backports or experimental unless pinned: no preferences.
        ("", ""),
        // Backports raised above stable.
        ("Package: *\nPin: release a=stable-backports\nPin-Priority: 600\n", ""),
        // By codename, label, origin and component.
        ("Package: *\nPin: release n=bookworm-backports\nPin-Priority: 501\n", ""),
        ("Package: *\nPin: release l=Debian Backports\nPin-Priority: 501\n", ""),
        ("Package: *\nPin: release o=Debian Backports,c=main\nPin-Priority: 501\n", ""),
        // By the site the archive comes from.
        ("Package: *\nPin: origin security.test\nPin-Priority: -10\n", ""),
        // Version globs, a regex, named packages, several names, src:.
        ("Package: openssl\nPin: version 3.0.11*\nPin-Priority: 1001\n", ""),
        ("Package: nginx curl\nPin: version /^8\\.[0-9]+-bpo/\nPin-Priority: 990\n", ""),
        ("Package: lib*\nPin: release a=experimental\nPin-Priority: 500\n", ""),
        ("Package: src:curl-src\nPin: release a=stable-backports\nPin-Priority: 700\n", ""),
        // A downgrade forced above 1000, never, negative for one package.
        ("Package: tzdata\nPin: release a=stable\nPin-Priority: 1001\n", ""),
        ("Package: *\nPin: release a=stable-security\nPin-Priority: never\n", ""),
        ("Package: curl\nPin: release *\nPin-Priority: -1\n", ""),
        // Priorities 1 and 2 differ: NotAutomatic (experimental) is 1, below stable at 2.
        ("Package: *\nPin: release a=now\nPin-Priority: 1\n\nPackage: *\nPin: release a=stable\nPin-Priority: 2\n", ""),
        // Pins by the status file's archive "now" and by a version prefix of the release.
        ("Package: *\nPin: release a=now\nPin-Priority: 1001\n", ""),
        ("Package: *\nPin: release 12*\nPin-Priority: 50\n", ""),
        // Two files: the first matching pin of a version wins, defaults in file order.
        (
            "Package: nginx\nPin: release a=stable-backports\nPin-Priority: 100\n",
            "Package: nginx\nPin: release a=stable-backports\nPin-Priority: 900\n",
        ),
        // An unknown pin type is skipped (apt warns), the rest applies.
        ("Package: *\nPin: tuesday\nPin-Priority: 900\n\nPackage: curl\nPin: release a=experimental\nPin-Priority: 800\n", ""),
    ];
    let mut answers = BTreeSet::new();
    for (i, (first, second)) in prefs.iter().enumerate() {
        let r = Root::new();
        r.installed(&[
            ("openssl", "amd64", "3.0.11-1~deb12u2", ""),
            ("tzdata", "all", "2024b-0+deb12u1", ""),
            ("nginx", "amd64", "1.22.1-9", ""),
            ("curl", "amd64", "7.88.1-10", "Source: curl-src\n"),
            ("libfoo1", "amd64", "1.0-1", ""),
        ]);
        let stable = [
            pkg("openssl", "3.0.15-1~deb12u1", "amd64", ""),
            pkg("tzdata", "2024a-0+deb12u1", "all", ""),
            pkg("nginx", "1.22.1-9+deb12u1", "amd64", ""),
            pkg("curl", "7.88.1-10+deb12u8", "amd64", "Source: curl-src\n"),
            pkg("libfoo1", "1.0-2", "amd64", ""),
        ]
        .concat();
        r.archive(&STABLE, &[("main", "amd64", &stable, Store::Plain)]);
        let security = pkg("openssl", "3.0.15-1~deb12u2", "amd64", "");
        r.archive(&SECURITY, &[("main", "amd64", &security, Store::Plain)]);
        let backports = [
            pkg("nginx", "1.26.0-1~bpo12+1", "amd64", ""),
            pkg(
                "curl",
                "8.11.1-1~bpo12+1",
                "amd64",
                "Source: curl-src (8.11.1-1~bpo12+1)\n",
            ),
            pkg("tzdata", "2025a-1~bpo12+1", "all", ""),
        ]
        .concat();
        r.archive(&BACKPORTS, &[("main", "amd64", &backports, Store::Plain)]);
        let experimental = [
            pkg("libfoo1", "2.0-1", "amd64", ""),
            pkg("curl", "8.12.0-1", "amd64", ""),
        ]
        .concat();
        r.archive(
            &EXPERIMENTAL,
            &[("main", "amd64", &experimental, Store::Plain)],
        );
        if !first.is_empty() {
            r.write("etc/apt/preferences", first);
        }
        if !second.is_empty() {
            r.write("etc/apt/preferences.d/local.pref", second);
        }
        let answer = r.same();
        assert!(answer.is_ok(), "case {i}: {answer:?}");
        answers.insert(format!("{answer:?}"));
    }
    // The pins do change the answer (12 different ones across the cases).
    assert!(answers.len() >= 10, "{answers:#?}");
}

#[test]
fn default_release_and_not_automatic_archives() {
    for conf in [
        "",
        "APT::Default-Release \"stable\";\n",
        "APT::Default-Release \"bookworm-backports\";\n",
        "APT::Default-Release \"experimental\";\n",
        "APT::Default-Release \"n=rc-buggy\";\n",
        // A release no source has: apt refuses to work.
        "APT::Default-Release \"sid\";\n",
    ] {
        let r = Root::new();
        r.installed(&[
            ("nginx", "amd64", "1.22.1-9", ""),
            ("curl", "amd64", "7.88.1-10", ""),
        ]);
        r.archive(
            &STABLE,
            &[(
                "main",
                "amd64",
                &pkg("nginx", "1.22.1-9+deb12u1", "amd64", ""),
                Store::Plain,
            )],
        );
        r.archive(
            &BACKPORTS,
            &[(
                "main",
                "amd64",
                &pkg("nginx", "1.26.0-1~bpo12+1", "amd64", ""),
                Store::Plain,
            )],
        );
        r.archive(
            &EXPERIMENTAL,
            &[(
                "main",
                "amd64",
                &pkg("curl", "8.12.0-1", "amd64", ""),
                Store::Plain,
            )],
        );
        r.write("etc/apt/apt.conf.d/50release", conf);
        let answer = r.same();
        assert_eq!(answer.is_err(), conf.contains("sid"), "{conf}: {answer:?}");
    }
}

#[test]
fn held_multiarch_foreign_and_local_packages() {
    let r = Root::new();
    r.write("var/lib/dpkg/arch", "amd64\ni386\n");
    let mut status = String::new();
    for (name, arch, version, state, ma) in [
        (
            "libc6",
            "amd64",
            "2.36-9+deb12u4",
            "install ok installed",
            "same",
        ),
        (
            "libc6",
            "i386",
            "2.36-9+deb12u4",
            "install ok installed",
            "same",
        ),
        (
            "wine32",
            "i386",
            "8.0~repack-4",
            "install ok installed",
            "no",
        ),
        // Held: apt still lists it as upgradable (`apt upgrade` keeps it).
        (
            "firefox-esr",
            "amd64",
            "115.5.0esr-1~deb12u1",
            "hold ok installed",
            "no",
        ),
        // Removed, configuration files left: not installed.
        (
            "telnetd",
            "amd64",
            "0.17+2.4-2",
            "deinstall ok config-files",
            "no",
        ),
        // Built locally: same version as the archive's, other dependencies.
        ("vim", "amd64", "2:9.0.1378-2", "install ok installed", "no"),
        (
            "python3-yaml",
            "amd64",
            "6.0-3",
            "install ok installed",
            "no",
        ),
    ] {
        let depends = if name == "vim" {
            "Depends: libc6 (>= 2.38)\n"
        } else {
            ""
        };
        status.push_str(&format!(
            "Package: {name}\nStatus: {state}\nArchitecture: {arch}\nMulti-Arch: {ma}\nVersion: {version}\nInstalled-Size: 10\n{depends}Description: x\n\n"
        ));
    }
    r.write("var/lib/dpkg/status", &status);
    let amd64 = [
        pkg("libc6", "2.36-9+deb12u9", "amd64", "Multi-Arch: same\n"),
        pkg(
            "firefox-esr",
            "128.5.0esr-1~deb12u1",
            "amd64",
            "Multi-Arch: no\n",
        ),
        pkg("telnetd", "0.17+2.4-2+deb12u1", "amd64", ""),
        pkg(
            "vim",
            "2:9.0.1378-2",
            "amd64",
            "Multi-Arch: no\nDepends: libc6 (>= 2.34)\n",
        ),
        pkg("python3-yaml", "6.0-3", "amd64", "Multi-Arch: no\n"),
        pkg("tzdata", "2024b-0+deb12u1", "all", ""),
    ]
    .concat();
    let i386 = [
        pkg("libc6", "2.36-9+deb12u9", "i386", "Multi-Arch: same\n"),
        pkg("wine32", "8.0~repack-4+deb12u1", "i386", "Multi-Arch: no\n"),
        pkg("tzdata", "2024b-0+deb12u1", "all", ""),
    ]
    .concat();
    r.archive(
        &STABLE,
        &[
            ("main", "amd64", &amd64, Store::Plain),
            ("main", "i386", &i386, Store::Gz),
        ],
    );
    let answer = r.same().unwrap();
    let names: Vec<_> = answer.iter().map(|r| format!("{}:{}", r.0, r.1)).collect();
    assert_eq!(
        names,
        [
            "firefox-esr:amd64",
            "libc6:amd64",
            "libc6:i386",
            "vim:amd64",
            "wine32:i386"
        ]
    );
}

#[test]
fn several_sources_for_one_version() {
    let r = Root::new();
    r.installed(&[
        ("openssl", "amd64", "3.0.11-1~deb12u2", ""),
        ("bash", "amd64", "5.2.15-2+b2", ""),
    ]);
    // The same build in the point release and in the security archive: one version with
    // two files, from a security archive. Two builds of one bash version (other
    // dependencies): the first read wins at equal priority.
    let same = pkg(
        "openssl",
        "3.0.15-1~deb12u1",
        "amd64",
        "Depends: libc6 (>= 2.34)\n",
    );
    r.archive(
        &STABLE,
        &[(
            "main",
            "amd64",
            &[
                same.clone(),
                pkg(
                    "bash",
                    "5.2.15-2+b7",
                    "amd64",
                    "Depends: base-files (>= 2.1.12)\n",
                ),
            ]
            .concat(),
            Store::Plain,
        )],
    );
    r.archive(
        &SECURITY,
        &[(
            "main",
            "amd64",
            &[
                same,
                pkg(
                    "bash",
                    "5.2.15-2+b7",
                    "amd64",
                    "Depends: base-files (>= 2.1.13)\n",
                ),
            ]
            .concat(),
            Store::Xz,
        )],
    );
    let answer = r.same().unwrap();
    let security: Vec<(&str, bool)> = answer.iter().map(|r| (r.0.as_str(), r.4)).collect();
    assert_eq!(security, [("bash", false), ("openssl", true)]);
}

#[test]
fn sources_in_every_form() {
    let r = Root::new();
    r.installed(&[
        ("nginx", "amd64", "1.22.1-9", ""),
        ("curl", "amd64", "7.88.1-10", ""),
    ]);
    let base = "var/lib/apt/lists/repo.test_apt_dists_stable";
    r.write(&format!("{base}_InRelease"), "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Test\nLabel: Test\nSuite: stable\nCodename: test\n-----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n-----END PGP SIGNATURE-----\n");
    r.write(
        &format!("{base}_main_binary-amd64_Packages"),
        &pkg("nginx", "1.22.1-9+t1", "amd64", ""),
    );
    // A flat repository without a Release file, in deb822 form with two suites (one of
    // them disabled in another stanza), and a list left by a removed source.
    r.write(
        "var/lib/apt/lists/_srv_flat_._Packages",
        &pkg("curl", "7.88.1-10+local1", "amd64", ""),
    );
    r.write(
        "var/lib/apt/lists/old.test_debian_dists_stable_main_binary-amd64_Packages",
        &pkg("curl", "99.0", "amd64", ""),
    );
    r.write(
        "etc/apt/sources.list.d/test.sources",
        "Types: deb\nURIs: http://repo.test/apt\nSuites: stable\nComponents: main\nSigned-By: /usr/share/keyrings/test.gpg\n\n# flat\nTypes: deb\nURIs: file:///srv/flat\nSuites: ./\nTrusted: yes\n\nTypes: deb\nURIs: http://old.test/debian\nSuites: stable\nComponents: main\nEnabled: no\n",
    );
    r.write(
        "etc/apt/sources.list.d/ignored.list.disabled",
        "deb http://old.test/debian stable main\n",
    );
    let answer = r.same().unwrap();
    let candidates: Vec<&str> = answer.iter().map(|r| r.3.as_str()).collect();
    assert_eq!(candidates, ["7.88.1-10+local1", "1.22.1-9+t1"]);
}

#[test]
fn empty_lists_and_missing_release() {
    let r = basic(Store::Plain);
    for entry in std::fs::read_dir(r.path("var/lib/apt/lists")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::remove_file(p).unwrap();
        }
    }
    assert_eq!(r.same().unwrap().len(), 0);
}

#[test]
fn truncated_and_corrupt_lists() {
    let records = [
        pkg("base-files", "12.4+deb12u8", "amd64", ""),
        pkg(
            "openssl",
            "3.0.15-1~deb12u1",
            "amd64",
            "Depends: libc6 (>= 2.34), libssl3 (>= 3.0.9)\n",
        ),
        pkg("tzdata", "2024b-0+deb12u1", "all", ""),
    ]
    .concat();
    let list = "var/lib/apt/lists/deb.test_debian_dists_bookworm_main_binary-amd64_Packages";
    // Every truncation of the plain list (apt takes the partial last record as it is, or
    // refuses what is left): both must agree at each offset.
    let r = basic(Store::Plain);
    let mut refused = 0;
    for cut in (0..records.len()).step_by(7) {
        std::fs::write(r.path(list), &records[..cut]).unwrap();
        refused += usize::from(r.same().is_err());
    }
    assert!(refused > 0, "some truncations leave a record apt refuses");
    // Damage of other kinds.
    for damaged in [
        format!("\n\n{records}"),
        format!("{records}garbage without a colon\n"),
        format!("{records}xy"),
        records.replace("Package: tzdata\n", ""),
        records.replace("(>= 3.0.9)", "(>= 3.0.9"),
        records.replace(
            "Description-md5: 0123456789abcdef0123456789abcdef\n",
            "Description-md5: 0123\n",
        ),
        records.replace("Version: 12.4+deb12u8\n", "Version 12.4+deb12u8\n"),
        records.replace("\n\n", "\n\r\n"),
        records.replace('\n', "\r\n"),
        records.replace(
            "Architecture: all",
            "Architecture: all\nArchitecture: amd64",
        ),
        format!("{records}\0\u{1}\u{7f}\u{ff}"),
    ] {
        std::fs::write(r.path(list), &damaged).unwrap();
        let _ = r.same();
    }
    // Compressed lists cut short or with flipped bytes: apt cannot decompress them.
    for store in [Store::Gz, Store::Xz, Store::Lz4] {
        let r = basic(store);
        let ext = match store {
            Store::Gz => ".gz",
            Store::Xz => ".xz",
            _ => ".lz4",
        };
        let path = r.path(&format!("{list}{ext}"));
        let good = std::fs::read(&path).unwrap();
        for cut in [good.len() - 4, good.len() * 2 / 3, 20] {
            std::fs::write(&path, &good[..cut]).unwrap();
            let _ = r.same();
        }
        let mut flipped = good.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        std::fs::write(&path, &flipped).unwrap();
        let _ = r.same();
    }
}

#[test]
fn configuration_apt_refuses() {
    for (file, text) in [
        (
            "etc/apt/sources.list",
            "deb http://deb.test/debian bookworm\n",
        ),
        (
            "etc/apt/sources.list",
            "rpm http://deb.test/debian bookworm main\n",
        ),
        (
            "etc/apt/preferences.d/zero",
            "Package: *\nPin: release a=stable\nPin-Priority: 0\n",
        ),
        (
            "etc/apt/preferences.d/nopkg",
            "Pin: release a=stable\nPin-Priority: 100\n",
        ),
        (
            "etc/apt/preferences.d/never",
            "Package: openssl\nPin: release a=stable\nPin-Priority: never\n",
        ),
        (
            "etc/apt/sources.list.d/dup.list",
            "deb [signed-by=/a.gpg] http://deb.test/debian bookworm main\n",
        ),
        (
            "var/lib/dpkg/status",
            "Package: a\nStatus: install ok\nVersion: 1\nArchitecture: amd64\n\n",
        ),
    ] {
        let r = basic(Store::Plain);
        r.write(file, text);
        assert!(r.same().is_err(), "{file}: {text}");
    }
}

/// This machine's own state, with apt as it is configured here (the machine this runs
/// on has pending upgrades, security ones among them).
#[test]
fn this_machine_matches_apt() {
    if !Path::new("/var/lib/dpkg/status").exists() {
        return;
    }
    let out = Command::new("apt")
        .args(["list", "--upgradable"])
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("apt runs");
    let apt = parse_apt(&out);
    assert_eq!(ours(None, None), apt);
}

/// The memo (`--state-dir`) answers only while nothing under it changed: after each kind
/// of change, with the memo of the previous state in place, the agent answers as apt.
#[test]
fn a_stale_memo_never_changes_an_answer() {
    // Files younger than this are not memoised (timestamp granularity).
    let settle = || std::thread::sleep(std::time::Duration::from_millis(3200));
    let r = basic(Store::Plain);
    let state = r.path("state");
    std::fs::create_dir_all(&state).unwrap();
    let list =
        r.path("var/lib/apt/lists/deb.test_debian_dists_bookworm_main_binary-amd64_Packages");
    let status = r.path("var/lib/dpkg/status");
    let memo = state.join("patches-memo.json");
    let keep_mtime = |path: &Path, f: &dyn Fn()| {
        let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
        f();
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    };
    type Change<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let changes: [Change; 4] = [
        // The list rewritten in place, same size, its mtime put back: only ctime differs.
        (
            "list edited in place",
            Box::new(|| {
                keep_mtime(&list, &|| {
                    let text = std::fs::read_to_string(&list).unwrap();
                    std::fs::write(&list, text.replace("12.4+deb12u8", "12.4+deb12u9")).unwrap();
                })
            }),
        ),
        // The status file replaced (as dpkg does, by rename) by one of the same size and
        // mtime: only the inode differs.
        (
            "status replaced",
            Box::new(|| {
                let text = std::fs::read_to_string(&status).unwrap();
                let new = r.path("var/lib/dpkg/status-new");
                std::fs::write(&new, text.replace("2024a-0+deb12u1", "2024b-0+deb12u1")).unwrap();
                let mtime = std::fs::metadata(&status).unwrap().modified().unwrap();
                std::fs::File::options()
                    .write(true)
                    .open(&new)
                    .unwrap()
                    .set_modified(mtime)
                    .unwrap();
                std::fs::rename(&new, &status).unwrap();
            }),
        ),
        // A new preferences file.
        (
            "pin added",
            Box::new(|| {
                r.write(
                    "etc/apt/preferences.d/hold-base",
                    "Package: base-files
Pin: version 12.4+deb12u5
Pin-Priority: 1001
",
                );
            }),
        ),
        // The list recompressed, as after `apt update` with Acquire::GzipIndexes.
        (
            "list recompressed",
            Box::new(|| {
                let text = std::fs::read_to_string(&list).unwrap();
                std::fs::remove_file(&list).unwrap();
                r.store(
                    "var/lib/apt/lists/deb.test_debian_dists_bookworm_main_binary-amd64_Packages",
                    &text.replace("3.0.15-1~deb12u1", "3.0.16-1~deb12u1"),
                    Store::Lz4,
                );
            }),
        ),
    ];
    for (what, change) in changes {
        settle();
        let warm = r.ours_memo(&state);
        assert_eq!(warm, r.apt(), "{what}: before");
        assert!(
            memo.exists(),
            "{what}: the memo is written once the files are old enough"
        );
        change();
        let after = r.ours_memo(&state);
        assert_eq!(
            after,
            r.apt(),
            "{what}: after, with the memo of before in place"
        );
        assert_ne!(after, warm, "{what}: the change shows");
    }
}
