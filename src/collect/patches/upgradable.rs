//! What `apt list --upgradable` would print, computed from the files apt reads, without
//! running apt (which costs a small board seconds of CPU and tens of MiB, and takes its
//! lock).
//!
//! The steps are apt's: its configuration (architectures, `APT::Default-Release`), its
//! sources and the lists and Release files they name (`index`), dpkg's status file, the
//! preferences, then the candidate of every installed package (`policy`). Where apt would
//! refuse to work (a malformed source, preference, list or status record), the answer is
//! unknown and the report says which file and why: apt, and therefore unattended
//! upgrades, are stuck on that device until it is fixed.

use super::index::{self, Arches, ListFile};
use super::policy::{ArchNames, Build, Cache, Package, PkgFile, ReleaseInfo};
use crate::collect::inventory::Problem;
use crate::collect::{max, Root};
use crate::fsutil;
use crate::parse::apt_packages::{self, Stanza, StanzaFields};
use crate::parse::apt_prefs::{self, Selector};
use crate::parse::aptconf;
use crate::parse::deb822::TagFile;

pub const STATUS: &str = crate::collect::DPKG_STATUS;
const DPKG_ARCH: &str = "/var/lib/dpkg/arch";
pub const PREFERENCES: &str = "/etc/apt/preferences";
pub const PREFERENCES_PARTS: &str = "/etc/apt/preferences.d";

pub use crate::wire::patches::Upgradable;

/// The answer, or why there is none, and what could not be read on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// `None` when apt itself could not answer (see `problems`).
    pub upgradable: Option<Vec<Upgradable>>,
    pub problems: Vec<Problem>,
}

/// Why apt would not answer: the file and the reason, with what to do.
struct Refusal {
    file: String,
    error: String,
}

impl Refusal {
    fn new(file: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Refusal {
            file: file.into(),
            error: error.to_string(),
        }
    }
}

/// Computes the upgradable packages of the system at `root`.
pub fn compute(root: &Root) -> Outcome {
    let mut problems = Vec::new();
    match compute_inner(root, &mut problems) {
        Ok(list) => Outcome {
            upgradable: Some(list),
            problems,
        },
        Err(r) => {
            problems.push(Problem {
                file: r.file,
                error: r.error,
            });
            Outcome {
                upgradable: None,
                problems,
            }
        }
    }
}

fn compute_inner(root: &Root, problems: &mut Vec<Problem>) -> Result<Vec<Upgradable>, Refusal> {
    let (config, notes) = crate::collect::apt_periodic::read_config(root);
    problems.extend(notes.into_iter().map(|n| Problem {
        file: "/etc/apt/apt.conf.d".into(),
        error: n,
    }));
    let mut arch_names = ArchNames::default();
    let installed = read_status(root, &mut arch_names)?;
    let arches = arches(root, &config, &installed);
    let items = index::source_items(root, &arches.native).map_err(|e| {
        Refusal::new(
            index::SOURCES_LIST,
            format!("{e}; apt refuses its sources until this is fixed"),
        )
    })?;
    let archives =
        index::plan(root, &items, &arches).map_err(|e| Refusal::new(index::SOURCES_LIST, e))?;

    let mut cache = Cache {
        native_arch: arches.native.clone(),
        ..Cache::default()
    };
    let lists = add_archives(root, &archives, &mut cache)?;
    let status_file = cache.files.len();
    cache.files.push(PkgFile {
        release: None,
        component: "now".into(),
        arch: None,
    });

    // Only installed packages can be upgradable: the others' records are checked (apt
    // would refuse a bad one) but not kept. The packages are sorted by name, so that a
    // list's record finds its own by binary search, without an index beside them.
    let (packages, current): (Vec<Package>, Vec<Build>) = installed
        .into_iter()
        .map(|(name, build)| {
            // "all" packages belong to the native architecture.
            let arch = match &*build.arch {
                "all" => arch_names.get(&arches.native),
                _ => build.arch.clone(),
            };
            (Package::new(name, arch), build)
        })
        .unzip();
    cache.packages = packages;
    for (file, list) in lists.iter().enumerate() {
        read_list(
            root,
            list,
            file,
            &mut cache,
            &arches.native,
            &mut arch_names,
        )?;
    }
    for (pkg, build) in cache.packages.iter_mut().zip(current) {
        let v = pkg.merge(build, status_file, &cache.files);
        pkg.current = Some(v);
    }

    let defaults = read_preferences(root, &mut cache, &config, problems)?;
    Ok(upgradables(&cache, &cache.file_priorities(&defaults)))
}

/// The archives' Release information and list files into `cache`, in apt's order; the
/// lists to read, in the same order as their files.
fn add_archives<'a>(
    root: &Root,
    archives: &'a [index::Archive],
    cache: &mut Cache,
) -> Result<Vec<&'a ListFile>, Refusal> {
    let mut lists = Vec::new();
    for archive in archives {
        let release = index::release_of(root, archive).map_err(|e| {
            Refusal::new(
                archive.release_file.clone().unwrap_or_default(),
                format!("{e}; apt cannot use this archive's lists until `apt update` fetches them again"),
            )
        })?;
        cache.releases.push(ReleaseInfo {
            release,
            site: archive.site.clone(),
        });
        let r = cache.releases.len() - 1;
        for list in &archive.lists {
            cache.files.push(PkgFile {
                release: Some(r),
                component: list.component.clone(),
                arch: (!list.arch.is_empty()).then(|| list.arch.clone()),
            });
            lists.push(list);
        }
    }
    Ok(lists)
}

/// The installed packages whose candidate comes before their installed version.
fn upgradables(cache: &Cache, file_prio: &[i16]) -> Vec<Upgradable> {
    let mut out = Vec::new();
    for pkg in &cache.packages {
        let (Some(current), Some(candidate)) = (pkg.current, cache.candidate(pkg, file_prio))
        else {
            continue;
        };
        if candidate >= current {
            continue;
        }
        let cand = &pkg.versions[candidate];
        let security = cand.files.iter().any(|&f| {
            cache.files[f]
                .release
                .is_some_and(|r| is_security(&cache.releases[r]))
        });
        out.push(Upgradable {
            name: pkg.name.to_string(),
            arch: pkg.versions[current].build.arch.to_string(),
            installed: pkg.versions[current].build.version.to_string(),
            candidate: cand.build.version.to_string(),
            security,
        });
    }
    out.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    out
}

/// A security archive: Debian's (`Label: Debian-Security`, suites `*-security`), Ubuntu's
/// and derivatives' (`*-security`).
fn is_security(r: &ReleaseInfo) -> bool {
    let r = &r.release;
    let ends = |v: &Option<String>| v.as_deref().is_some_and(|s| s.ends_with("-security"));
    ends(&r.suite) || ends(&r.codename) || r.label.as_deref() == Some("Debian-Security")
}

/// An installed package of the status file: its name and its build.
type Installed = (Box<str>, Build);

/// The installed packages in dpkg's status file, after apt's checks on every record,
/// sorted by name. The file is streamed: what stays in memory is one [`Build`] per
/// installed package, not the text (100 MB on a system with 200,000 packages).
fn read_status(root: &Root, arch_names: &mut ArchNames) -> Result<Vec<Installed>, Refusal> {
    let file = fsutil::open(&root.file(STATUS)).map_err(|e| {
        Refusal::new(
            STATUS,
            format!("{e}: no dpkg database, so no package state to compare"),
        )
    })?;
    let mut tags = TagFile::<_, StanzaFields>::with_fields(file);
    let mut installed: Vec<Installed> = Vec::new();
    loop {
        let s = match tags.next_record() {
            Ok(Some((text, fields))) => Stanza::from_fields(text, fields),
            Ok(None) => break,
            Err(e) => {
                return Err(Refusal::new(
                    STATUS,
                    format!("{e}; apt cannot read it either"),
                ))
            }
        };
        let name = s.name().ok_or_else(|| {
            Refusal::new(
                STATUS,
                "a record has no Package field; apt cannot read the status file either",
            )
        })?;
        let Some(version) = s.version.filter(|v| !v.is_empty()) else {
            continue;
        };
        let version = String::from_utf8_lossy(version);
        let is_installed = match s.status {
            Some(st) => apt_packages::status_installed(st).map_err(|e| {
                Refusal::new(
                    STATUS,
                    format!("{name} {version}: {e}; apt cannot read the status file either"),
                )
            })?,
            None => false,
        };
        s.check_new_version().map_err(|e| {
            Refusal::new(
                STATUS,
                format!("{name} {version}: {e}; apt refuses the status file too"),
            )
        })?;
        if !is_installed {
            continue;
        }
        let build = new_version(&s, &version, &name, arch_names);
        installed.push((name.into(), build));
    }
    installed.shrink_to_fit();
    installed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(installed)
}

fn new_version(s: &Stanza, version: &str, name: &str, arch_names: &mut ArchNames) -> Build {
    Build {
        version: version.into(),
        arch: arch_names.get(&String::from_utf8_lossy(s.arch())),
        hash: s.version_hash(),
        size: s.download_size(),
        multi_arch: s.multi_arch_flags(),
        source: s
            .source_name()
            .filter(|source| source != name)
            .map(Into::into),
    }
}

/// The native architecture (`APT::Architecture`, else dpkg's own, else this build's) and
/// the others (`APT::Architectures`, else dpkg's foreign architectures).
fn arches(root: &Root, config: &aptconf::Config, installed: &[Installed]) -> Arches {
    let native = config
        .get("APT::Architecture")
        .map(|(v, _)| v.to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| {
            installed
                .iter()
                .find(|(name, _)| &**name == "dpkg")
                .map(|(_, build)| build.arch.to_string())
        })
        .unwrap_or_else(|| build_arch().to_owned());
    let mut all: Vec<String> = config.list("APT::Architectures").to_vec();
    if all.is_empty() {
        if let Some((v, _)) = config.get("APT::Architectures") {
            all = v.split(',').map(str::to_owned).collect();
        }
    }
    if all.iter().all(|a| a.is_empty()) {
        all = std::iter::once(native.clone())
            .chain(
                root.read(DPKG_ARCH)
                    .unwrap_or_default()
                    .split_ascii_whitespace()
                    .map(str::to_owned),
            )
            .collect();
    }
    if !all.contains(&native) {
        all.insert(0, native.clone());
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|a| !a.is_empty() && seen.insert(a.clone()));
    Arches { native, all }
}

/// Debian's name for the architecture this agent was built for.
fn build_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "armhf",
        "x86" => "i386",
        other => other,
    }
}

/// Reads one list: every record is checked as apt checks it; those of installed packages
/// are merged into their version lists.
fn read_list(
    root: &Root,
    list: &ListFile,
    file: usize,
    cache: &mut Cache,
    native: &str,
    arch_names: &mut ArchNames,
) -> Result<(), Refusal> {
    let refuse = |e: &dyn std::fmt::Display| {
        Refusal::new(
            &list.path,
            format!("{e}; apt refuses its lists too until `apt update` replaces this one"),
        )
    };
    let reader = index::open_list(root, list).map_err(|e| refuse(&e))?;
    let mut tags = TagFile::<_, StanzaFields>::with_fields(reader);
    loop {
        let offset = tags.offset();
        let s = match tags.next_record() {
            Ok(Some((text, fields))) => Stanza::from_fields(text, fields),
            Ok(None) => return Ok(()),
            Err(e) => return Err(refuse(&e)),
        };
        let Some(raw_name) = s.package.filter(|p| !p.is_empty()) else {
            return Err(refuse(&format!(
                "the record at byte {offset} has no Package field"
            )));
        };
        let Some(version) = s.version.filter(|v| !v.is_empty()) else {
            continue;
        };
        if let Err(e) = s.check_new_version() {
            return Err(refuse(&format!(
                "{} {}: {e}",
                String::from_utf8_lossy(raw_name),
                String::from_utf8_lossy(version)
            )));
        }
        let lowered;
        let name = if raw_name.iter().any(u8::is_ascii_uppercase) && !raw_name.contains(&b'/') {
            lowered = raw_name.to_ascii_lowercase();
            &lowered[..]
        } else {
            raw_name
        };
        let first = cache.packages.partition_point(|p| p.name.as_bytes() < name);
        let arch = s.arch();
        let arch_key: &[u8] = if arch == b"all" {
            native.as_bytes()
        } else {
            arch
        };
        for p in first..cache.packages.len() {
            let pkg = &cache.packages[p];
            if pkg.name.as_bytes() != name {
                break;
            }
            if pkg.arch.as_bytes() == arch_key {
                let v = new_version(&s, &String::from_utf8_lossy(version), &pkg.name, arch_names);
                cache.packages[p].merge(v, file, &cache.files);
            }
        }
    }
}

/// Reads the preferences into version pins; returns the file defaults in apt's order
/// (`APT::Default-Release` first, then the `Package: *` pins).
fn read_preferences(
    root: &Root,
    cache: &mut Cache,
    config: &aptconf::Config,
    problems: &mut Vec<Problem>,
) -> Result<Vec<(Selector, i16)>, Refusal> {
    let mut defaults = Vec::new();
    if let Some((release, source)) = config
        .get("APT::Default-Release")
        .filter(|(v, _)| !v.is_empty())
    {
        if !cache.default_release_exists(release) {
            return Err(Refusal::new(
                format!("/etc/apt/apt.conf.d/{source}"),
                format!("APT::Default-Release \"{release}\" names no release of the sources; apt refuses to work until it does"),
            ));
        }
        defaults.push((
            apt_prefs::parse(
                format!("Package: *\nPin: release {release}\nPin-Priority: 990\n").as_bytes(),
                "",
            )
            .pins
            .remove(0)
            .selector,
            990,
        ));
    }
    let mut files = Vec::new();
    if std::fs::metadata(root.file(PREFERENCES)).is_ok_and(|m| m.is_file()) {
        files.push(PREFERENCES.to_owned());
    }
    files.extend(index::apt_dir_files(
        root,
        PREFERENCES_PARTS,
        &["pref"],
        true,
    ));
    for file in files {
        let text = fsutil::read_bounded(&root.file(&file), max::CONFIG).map_err(|e| {
            Refusal::new(
                &file,
                format!("{e}; apt cannot read its preferences either"),
            )
        })?;
        let parsed = apt_prefs::parse(&text, &file);
        problems.extend(parsed.warnings.into_iter().map(|w| Problem {
            file: file.clone(),
            error: format!("{w} (apt ignores this record)"),
        }));
        if let Some(e) = parsed.error {
            return Err(Refusal::new(
                &file,
                format!("{e}; apt refuses to work until it is fixed"),
            ));
        }
        for pin in parsed.pins {
            match &pin.packages {
                None => defaults.push((pin.selector, pin.priority)),
                Some(names) => {
                    for name in names {
                        cache.pin_package(name, &pin.selector, pin.priority);
                    }
                }
            }
        }
    }
    Ok(defaults)
}

/// Every version string in the status file and the lists of `root` (for tests of the
/// version order against dpkg).
#[cfg(test)]
pub(crate) fn all_versions(root: &Root) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut add = |reader: Box<dyn std::io::Read>| {
        let mut tags = TagFile::new(reader);
        while let Ok(Some(section)) = tags.next_section() {
            if let Some(v) = section.get_str("Version") {
                out.insert(v.into_owned());
            }
        }
    };
    if let Ok(f) = fsutil::open(&root.file(STATUS)) {
        add(Box::new(f));
    }
    // The architectures apt uses here (dpkg's, not the one this test binary was built
    // for: under qemu they differ).
    let (config, _) = crate::collect::apt_periodic::read_config(root);
    let arches = arches(
        root,
        &config,
        &read_status(root, &mut ArchNames::default()).unwrap_or_default(),
    );
    let items = index::source_items(root, &arches.native).unwrap_or_default();
    for archive in index::plan(root, &items, &arches).unwrap_or_default() {
        for list in &archive.lists {
            if let Ok(r) = index::open_list(root, list) {
                add(r);
            }
        }
    }
    out.into_iter().collect()
}
