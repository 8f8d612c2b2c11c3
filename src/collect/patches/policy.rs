//! apt's model of the installed packages' versions and how it picks a candidate.
//!
//! Each package (name and architecture) has a list of versions, newest first, each with
//! the files it comes from. The list is built as apt's cache generator builds it: list
//! files in order, then dpkg's status file; a record whose version, dependency hash,
//! size and Multi-Arch match a known version adds its file to it, otherwise it becomes a
//! new version placed by version order (after equal versions already there). Then apt's
//! policy (`pkgPolicy`) gives each file a priority (500, 100 for the status file and for
//! `NotAutomatic: yes` + `ButAutomaticUpgrades: yes`, 1 for `NotAutomatic: yes`, then the
//! `Package: *` pins and `APT::Default-Release`), each version the priority of its own
//! pin or of its best file, and takes as candidate the version of highest priority that
//! is not older than the installed one (unless its priority is 1000 or more), the first
//! in list order among equals. A package is upgradable when its candidate comes before
//! its installed version in the list.

use crate::parse::apt_prefs::{ReleaseSpec, Selector, NEVER};
use crate::parse::apt_release::Release;
use crate::parse::debversion;
use std::cmp::Ordering;
use std::ffi::CString;

/// A file versions come from: a package list, or dpkg's status file.
#[derive(Debug, Clone)]
pub struct PkgFile {
    /// Index into the archives' releases; `None` for the status file.
    pub release: Option<usize>,
    /// `main`...; `now` for the status file, empty for a flat repository.
    pub component: String,
    /// `amd64`, `all`...; `None` for the status file and flat repositories.
    pub arch: Option<String>,
}

impl PkgFile {
    pub fn is_status(&self) -> bool {
        self.release.is_none()
    }
}

/// What apt knows of an archive's Release file (plus the site it was fetched from).
#[derive(Debug, Clone, Default)]
pub struct ReleaseInfo {
    pub release: Release,
    pub site: String,
}

/// An architecture name, shared: there are a few of them for 200,000 records.
pub type Arch = std::sync::Arc<str>;

/// The architecture names met so far, each kept once.
#[derive(Debug, Default)]
pub struct ArchNames(Vec<Arch>);

impl ArchNames {
    pub fn get(&mut self, name: &str) -> Arch {
        if let Some(known) = self.0.iter().find(|a| &***a == name) {
            return known.clone();
        }
        let new: Arch = name.into();
        self.0.push(new.clone());
        new
    }
}

/// What a record says of a version: the version string and what tells two builds of it
/// apart (apt's dependency hash, download size and Multi-Arch).
///
/// One is kept per installed package and per version the lists offer for it: a device
/// with 200,000 packages holds 200,000 of these, so strings are boxed (no spare capacity)
/// and the source name is kept only where it differs from the package's.
#[derive(Debug, Clone)]
pub struct Build {
    pub version: Box<str>,
    /// The record's `Architecture` (`all` for architecture-independent packages).
    pub arch: Arch,
    pub hash: u32,
    pub size: u64,
    pub multi_arch: u8,
    /// The source package, when its name is not the binary package's.
    pub source: Option<Box<str>>,
}

/// One version of a package: a build, and the files that offer it.
#[derive(Debug, Clone)]
pub struct Version {
    pub build: Build,
    /// Indexes into [`Cache::files`], in the order the records were read.
    pub files: Vec<usize>,
    /// The priority of the package pin that selects this version, if one does.
    pub pin: Option<i16>,
}

/// A package (name, architecture) with its versions, newest first.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: Box<str>,
    pub arch: Arch,
    pub versions: Vec<Version>,
    /// The installed version (index into `versions`).
    pub current: Option<usize>,
}

impl Package {
    pub fn new(name: Box<str>, arch: Arch) -> Self {
        Package {
            name,
            arch,
            versions: Vec::new(),
            current: None,
        }
    }

    /// The source package a version was built from.
    pub fn source_of<'a>(&'a self, v: &'a Version) -> &'a str {
        v.build.source.as_deref().unwrap_or(&self.name)
    }

    /// apt's `MergeListVersion`: adds a record from `file`; returns its version's index.
    pub fn merge(&mut self, new: Build, file: usize, files: &[PkgFile]) -> usize {
        let from_status = files[file].is_status();
        let mut pos = 0;
        let mut res = Ordering::Greater;
        while pos < self.versions.len() {
            let v = &self.versions[pos].build;
            res = debversion::compare(&new.version, &v.version);
            if res == Ordering::Greater {
                break;
            }
            if res == Ordering::Equal {
                let same = new.hash == v.hash
                    && (new.size == 0 || v.size == 0 || new.size == v.size)
                    && new.multi_arch == v.multi_arch;
                if same {
                    break;
                }
                // A list's record goes before a version known only from the status file.
                let only_status = self.versions[pos]
                    .files
                    .iter()
                    .all(|&f| files[f].is_status());
                if !from_status && only_status {
                    break;
                }
            }
            pos += 1;
        }
        if res == Ordering::Equal
            && pos < self.versions.len()
            && self.versions[pos].build.hash == new.hash
        {
            let v = &mut self.versions[pos];
            v.files.reserve_exact(1);
            v.files.push(file);
            if v.build.size == 0 {
                v.build.size = new.size;
            }
            return pos;
        }
        // Exactly one more: a package has a version or two, and 200,000 packages each
        // with room for four (Vec's first growth) would cost 60 MB for nothing.
        self.versions.reserve_exact(1);
        self.versions.insert(
            pos,
            Version {
                build: new,
                files: vec![file],
                pin: None,
            },
        );
        if let Some(current) = self.current.as_mut() {
            if *current >= pos {
                *current += 1;
            }
        }
        pos
    }
}

/// The versions of the installed packages and where they come from.
#[derive(Debug, Default)]
pub struct Cache {
    pub releases: Vec<ReleaseInfo>,
    pub files: Vec<PkgFile>,
    pub packages: Vec<Package>,
    pub native_arch: String,
}

/// apt's `pkgVersionMatch::ExpressionMatches`: `/regex/` (POSIX extended, ignoring case),
/// else a shell glob ignoring case, through the C library's own `regcomp` and `fnmatch`
/// as apt uses them. A missing string never matches.
pub fn expression_matches(pattern: &str, string: Option<&str>) -> bool {
    let Some(string) = string else { return false };
    let (Ok(s), Ok(p)) = (CString::new(string), CString::new(pattern)) else {
        return false;
    };
    if let Some(regex) = pattern
        .strip_prefix('/')
        .and_then(|r| r.strip_suffix('/').or((r.is_empty()).then_some("")))
    {
        let Ok(regex) = CString::new(regex) else {
            return false;
        };
        // SAFETY: regex_t is plain data initialised by regcomp, freed only if compiled.
        unsafe {
            let mut preg: libc::regex_t = std::mem::zeroed();
            if libc::regcomp(
                &mut preg,
                regex.as_ptr(),
                libc::REG_EXTENDED | libc::REG_ICASE,
            ) != 0
            {
                return false;
            }
            let hit = libc::regexec(&preg, s.as_ptr(), 0, std::ptr::null_mut(), 0) == 0;
            libc::regfree(&mut preg);
            return hit;
        }
    }
    // SAFETY: both are valid NUL-terminated strings.
    unsafe { libc::fnmatch(p.as_ptr(), s.as_ptr(), libc::FNM_CASEFOLD) == 0 }
}

/// apt's `MatchVer`: equal ignoring case, or a prefix of `version` when `prefix`.
fn match_ver(version: Option<&str>, pattern: &str, prefix: bool) -> bool {
    let Some(v) = version else { return false };
    if (v.len() != pattern.len() && !prefix) || v.len() < pattern.len() {
        return false;
    }
    v.as_bytes()[..pattern.len()].eq_ignore_ascii_case(pattern.as_bytes())
}

impl Cache {
    /// apt's `FileMatch` of a pin against one file.
    fn file_matches(&self, selector: &Selector, file: &PkgFile) -> bool {
        let release = file.release.map(|r| &self.releases[r]);
        match selector {
            Selector::Nothing | Selector::Version { .. } => false,
            Selector::Origin(site) => match release {
                Some(r) => expression_matches(site, Some(&r.site)),
                None => false,
            },
            Selector::Release(spec) => {
                match release {
                    Some(r) => {
                        if !release_matches(spec, &r.release) {
                            return false;
                        }
                    }
                    None => {
                        // The status file has no Release; its component "now" stands for
                        // the archive.
                        let now = Some(file.component.as_str());
                        if (!spec.archive.is_empty() && !expression_matches(&spec.archive, now))
                            || (!spec.release.is_empty() && !expression_matches(&spec.release, now))
                        {
                            return false;
                        }
                        if !spec.origin.is_empty()
                            || !spec.label.is_empty()
                            || !spec.version.is_empty()
                            || !spec.codename.is_empty()
                        {
                            return false;
                        }
                    }
                }
                if spec.all {
                    return true;
                }
                if !spec.component.is_empty()
                    && !expression_matches(&spec.component, Some(&file.component))
                {
                    return false;
                }
                if !spec.architecture.is_empty()
                    && !expression_matches(&spec.architecture, file.arch.as_deref())
                {
                    return false;
                }
                true
            }
        }
    }

    /// apt's `VersionMatches`: a version pin on the version string, a release or origin
    /// pin on any of the version's files.
    fn version_matches(&self, selector: &Selector, v: &Version) -> bool {
        match selector {
            Selector::Version { pattern, prefix } => {
                match_ver(Some(&v.build.version), pattern, *prefix)
                    || expression_matches(pattern, Some(&v.build.version))
            }
            _ => v
                .files
                .iter()
                .any(|&f| self.file_matches(selector, &self.files[f])),
        }
    }

    /// File priorities after the defaults (apt's `InitDefaults`): `defaults` are the
    /// `APT::Default-Release` pin (990) then the `Package: *` pins, in order; the first
    /// that matches a file fixes its priority, except that `never` always wins.
    pub fn file_priorities(&self, defaults: &[(Selector, i16)]) -> Vec<i16> {
        let mut prio: Vec<i16> = self
            .files
            .iter()
            .map(|f| match f.release.map(|r| &self.releases[r].release) {
                None => 100,
                Some(r) if r.not_automatic && r.but_automatic_upgrades => 100,
                Some(r) if r.not_automatic => 1,
                Some(_) => 500,
            })
            .collect();
        let mut fixed = vec![false; self.files.len()];
        for (selector, priority) in defaults {
            for (i, file) in self.files.iter().enumerate() {
                if (!fixed[i] || *priority == NEVER)
                    && prio[i] != NEVER
                    && self.file_matches(selector, file)
                {
                    prio[i] = *priority;
                    fixed[i] = true;
                }
            }
        }
        prio
    }

    /// Whether `APT::Default-Release` names a release apt knows (apt refuses to work
    /// otherwise): a suite, codename or version of an archive, `now`, or an `x=` spec.
    pub fn default_release_exists(&self, value: &str) -> bool {
        value.len() > 2 && value.as_bytes()[1] == b'='
            || expression_matches(value, Some("now"))
            || self.releases.iter().any(|r| {
                let r = &r.release;
                expression_matches(value, r.suite.as_deref())
                    || expression_matches(value, r.codename.as_deref())
                    || expression_matches(value, r.version.as_deref())
            })
    }

    /// Applies one package pin (apt's `CreatePin` for a named package): `name` may carry
    /// `src:` and `:arch`, or be a glob or `/regex/` over package names.
    pub fn pin_package(&mut self, name: &str, selector: &Selector, priority: i16) {
        let (is_source, name) = match name.strip_prefix("src:") {
            Some(n) => (true, n),
            None => (false, name),
        };
        let (name, arch) = match name.rfind(':') {
            Some(i) => (&name[..i], Some(&name[i + 1..])),
            None => (name, None),
        };
        if name.is_empty() {
            return;
        }
        let is_regex = name.starts_with('/') && name.ends_with('/');
        if is_regex || name.contains(['*', '[', '?']) {
            let mut groups: Vec<&str> = self.packages.iter().map(|p| &*p.name).collect();
            if is_source {
                groups.extend(
                    self.packages
                        .iter()
                        .flat_map(|p| p.versions.iter().map(|v| p.source_of(v))),
                );
            }
            groups.sort_unstable();
            groups.dedup();
            let matching: Vec<String> = groups
                .into_iter()
                .filter(|g| *g != name && expression_matches(name, Some(g)))
                .map(str::to_owned)
                .collect();
            for group in matching {
                let mut full = if is_source {
                    format!("src:{group}")
                } else {
                    group
                };
                if let Some(arch) = arch {
                    full.push(':');
                    full.push_str(arch);
                }
                self.pin_package(&full, selector, priority);
            }
            return;
        }
        let wanted = arch.unwrap_or(&self.native_arch).to_owned();
        for p in 0..self.packages.len() {
            let pkg = &self.packages[p];
            if !arch_matches(&wanted, &pkg.arch) || (!is_source && &*pkg.name != name) {
                continue;
            }
            for v in 0..pkg.versions.len() {
                let pkg = &self.packages[p];
                let version = &pkg.versions[v];
                if version.pin.is_some() || (is_source && pkg.source_of(version) != name) {
                    continue;
                }
                if self.version_matches(selector, version) {
                    self.packages[p].versions[v].pin = Some(priority);
                }
            }
        }
    }

    /// apt's `GetPriority(Version)`.
    fn version_priority(&self, pkg: &Package, v: usize, file_prio: &[i16]) -> i32 {
        let version = &pkg.versions[v];
        if let Some(pin) = version.pin {
            if pin == NEVER {
                return i32::from(NEVER);
            }
            if version.files.iter().any(|&f| file_prio[f] != NEVER) {
                return i32::from(pin);
            }
        }
        version
            .files
            .iter()
            .map(|&f| {
                if self.files[f].is_status() && pkg.current != Some(v) {
                    -1
                } else {
                    i32::from(file_prio[f])
                }
            })
            .max()
            .unwrap_or(0)
    }

    /// apt's `GetCandidateVer`.
    pub fn candidate(&self, pkg: &Package, file_prio: &[i16]) -> Option<usize> {
        let current = pkg.current.map(|c| pkg.versions[c].build.version.as_ref());
        let mut best: Option<(usize, i32)> = None;
        for v in 0..pkg.versions.len() {
            let priority = self.version_priority(pkg, v, file_prio);
            let best_priority = best.map_or(-1, |(_, p)| p);
            if priority == 0 || priority <= best_priority {
                continue;
            }
            if let Some(current) = current {
                if priority < 1000
                    && debversion::compare(&pkg.versions[v].build.version, current)
                        == Ordering::Less
                {
                    continue;
                }
            }
            best = Some((v, priority));
        }
        best.map(|(v, _)| v)
    }
}

/// `FileMatch` against a Release file's fields.
fn release_matches(spec: &ReleaseSpec, r: &Release) -> bool {
    if spec.all {
        return true;
    }
    if spec.version.is_empty()
        && spec.origin.is_empty()
        && spec.archive.is_empty()
        && spec.label.is_empty()
        && spec.release.is_empty()
        && spec.codename.is_empty()
        && spec.component.is_empty()
        && spec.architecture.is_empty()
    {
        return false;
    }
    let version = r.version.as_deref();
    if !spec.version.is_empty()
        && !match_ver(version, &spec.version, spec.version_prefix)
        && !expression_matches(&spec.version, version)
    {
        return false;
    }
    let check = |want: &str, have: &Option<String>| {
        want.is_empty() || expression_matches(want, have.as_deref())
    };
    if !check(&spec.origin, &r.origin)
        || !check(&spec.archive, &r.suite)
        || !check(&spec.codename, &r.codename)
        || !check(&spec.label, &r.label)
    {
        return false;
    }
    if !spec.release.is_empty()
        && !expression_matches(&spec.release, r.suite.as_deref())
        && !expression_matches(&spec.release, r.codename.as_deref())
    {
        return false;
    }
    true
}

/// apt's `PackageArchitectureMatchesSpecification` for a pin's `:arch`: equal, or `any`
/// (every architecture), or `linux-any` / `any-<cpu>` (these agents run on Linux).
fn arch_matches(spec: &str, arch: &str) -> bool {
    spec == arch
        || spec == "any"
        || spec == "linux-any"
        || spec
            .strip_prefix("any-")
            .or_else(|| spec.strip_prefix("linux-"))
            .is_some_and(|cpu| cpu == arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_globs_or_regexes_ignoring_case() {
        assert!(expression_matches("stable*", Some("Stable-security")));
        assert!(!expression_matches("stable", Some("oldstable")));
        assert!(expression_matches(
            "/^old.*security$/",
            Some("oldstable-security")
        ));
        assert!(!expression_matches("/^stable/", Some("oldstable")));
        assert!(!expression_matches("*", None));
        assert!(expression_matches("deb.debian.org", Some("deb.debian.org")));
    }

    fn file(release: Option<usize>) -> PkgFile {
        PkgFile {
            release,
            component: if release.is_some() { "main" } else { "now" }.into(),
            arch: release.map(|_| "amd64".into()),
        }
    }

    fn new(version: &str, hash: u32) -> Build {
        Build {
            version: version.into(),
            arch: "amd64".into(),
            hash,
            size: 0,
            multi_arch: 0,
            source: None,
        }
    }

    #[test]
    fn merging_orders_versions_and_joins_identical_ones() {
        let files = vec![file(Some(0)), file(Some(1)), file(None)];
        let mut p = Package::new("a".into(), "amd64".into());
        p.merge(new("1.0", 7), 0, &files);
        p.merge(new("2.0", 7), 1, &files);
        p.merge(new("1.0", 7), 1, &files);
        // The status file's record of 1.0 with another dependency hash is another build.
        let installed = p.merge(new("1.0", 9), 2, &files);
        p.current = Some(installed);
        let listed: Vec<(&str, &[usize])> = p
            .versions
            .iter()
            .map(|v| (&*v.build.version, v.files.as_slice()))
            .collect();
        assert_eq!(listed, [("2.0", &[1][..]), ("1.0", &[0, 1]), ("1.0", &[2])]);
        assert_eq!(p.current, Some(2));
    }

    #[test]
    fn candidate_by_priority_not_below_installed() {
        let files = vec![file(Some(0)), file(None)];
        let mut cache = Cache {
            releases: vec![ReleaseInfo::default()],
            files: files.clone(),
            packages: Vec::new(),
            native_arch: "amd64".into(),
        };
        let mut p = Package::new("a".into(), "amd64".into());
        p.merge(new("2.0", 1), 0, &files);
        let cur = p.merge(new("1.0", 1), 1, &files);
        p.current = Some(cur);
        cache.packages.push(p);
        let prio = cache.file_priorities(&[]);
        assert_eq!(prio, [500, 100]);
        assert_eq!(cache.candidate(&cache.packages[0], &prio), Some(0));
        // A pin of the list below the status file's 100 keeps the installed version; the
        // status file has component "now", so `c=main` leaves it at 100.
        let lists_only = Selector::Release(ReleaseSpec {
            component: "main".into(),
            ..ReleaseSpec::default()
        });
        let prio = cache.file_priorities(&[(lists_only, 50)]);
        assert_eq!(prio, [50, 100]);
        assert_eq!(cache.candidate(&cache.packages[0], &prio), Some(1));
        // `release *` pins every file, the status file too: the newer version wins again.
        let everything = Selector::Release(ReleaseSpec {
            all: true,
            ..ReleaseSpec::default()
        });
        let prio = cache.file_priorities(&[(everything, 50)]);
        assert_eq!(prio, [50, 50]);
        assert_eq!(cache.candidate(&cache.packages[0], &prio), Some(0));
    }
}
