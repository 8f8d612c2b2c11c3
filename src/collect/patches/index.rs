//! Which files apt reads to know the available packages, in the order it reads them.
//!
//! apt does not read whatever lies in `/var/lib/apt/lists`: it reads, for each source
//! entry, the `InRelease` (or `Release`) file and the `Packages` lists that entry names
//! for each configured architecture, under the names `apt update` gave them
//! (`URItoFileName`), plain or compressed. A list left behind by a removed source is
//! ignored, as apt ignores it. This module turns the sources into that plan and opens
//! the lists; it reads, never writes.

use crate::collect::{max, Root};
use crate::fsutil;
use crate::parse::apt_release::{self, Release};
use crate::parse::apt_sources::{self, Item, Kind};
use std::collections::BTreeMap;
use std::io::{self, Read};

pub const SOURCES_LIST: &str = "/etc/apt/sources.list";
pub const SOURCES_PARTS: &str = "/etc/apt/sources.list.d";
pub const LISTS: &str = "/var/lib/apt/lists";

/// How a list file is stored (apt's `Acquire::CompressionTypes`, in the order apt looks
/// for them after the plain file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Plain,
    Xz,
    Bzip2,
    Lzma,
    Gzip,
    Lz4,
    Zstd,
}

const COMPRESSED: [(Compression, &str); 6] = [
    (Compression::Xz, ".xz"),
    (Compression::Bzip2, ".bz2"),
    (Compression::Lzma, ".lzma"),
    (Compression::Gzip, ".gz"),
    (Compression::Lz4, ".lz4"),
    (Compression::Zstd, ".zst"),
];

/// One `Packages` list that exists on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFile {
    /// Absolute path on the target system (under `--root` when one is given).
    pub path: String,
    pub compression: Compression,
    /// `main`, `contrib`...; empty for a flat repository.
    pub component: String,
    /// `amd64`, `arm64`..., or `all`; empty for a flat repository.
    pub arch: String,
}

/// One archive (URI + suite) and its lists, as apt's `debReleaseIndex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    pub uri: String,
    pub suite: String,
    /// The URI's host: what `Pin: origin` matches.
    pub site: String,
    /// The `InRelease` or `Release` file that exists, if any.
    pub release_file: Option<String>,
    pub lists: Vec<ListFile>,
}

/// The architectures apt works with: the native one first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arches {
    pub native: String,
    pub all: Vec<String>,
}

/// Files of a configuration directory that apt reads (`GetListOfFilesInDir`): regular
/// files with one of `exts` (or no extension if `no_ext`), names of letters, digits,
/// `_-:.` only, not hidden, not ending in a dot, sorted bytewise.
pub fn apt_dir_files(root: &Root, dir: &str, exts: &[&str], no_ext: bool) -> Vec<String> {
    let mut out: Vec<String> = crate::collect::posture::sys::dir_names(&root.file(dir))
        .into_iter()
        .filter(|name| {
            if name.starts_with('.') || name.ends_with('.') {
                return false;
            }
            match name.rsplit_once('.') {
                Some((_, ext)) if !exts.contains(&ext) => return false,
                None if !no_ext => return false,
                _ => {}
            }
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b))
        })
        .map(|name| format!("{}/{name}", dir.trim_end_matches('/')))
        .filter(|path| std::fs::metadata(root.file(path)).is_ok_and(|m| m.is_file()))
        .collect();
    out.sort();
    out
}

/// The source items in apt's order: `sources.list`, then `sources.list.d/*.list` and
/// `*.sources` sorted by name. `Err` when apt would refuse its sources.
pub fn source_items(root: &Root, native_arch: &str) -> Result<Vec<Item>, String> {
    let mut files = Vec::new();
    if std::fs::metadata(root.file(SOURCES_LIST)).is_ok_and(|m| m.is_file()) {
        files.push(SOURCES_LIST.to_owned());
    }
    files.extend(apt_dir_files(
        root,
        SOURCES_PARTS,
        &["list", "sources"],
        false,
    ));
    let mut items = Vec::new();
    for file in files {
        let text = root
            .read(&file)
            .map_err(|e| format!("{file}: {e}; apt cannot read its sources either"))?;
        let parsed = if file.ends_with(".sources") {
            apt_sources::parse_sources(&text, &file, native_arch)
        } else {
            apt_sources::parse_list(&text, &file, native_arch)
        }?;
        items.extend(parsed);
    }
    Ok(items)
}

/// The archives and their existing lists, in the order apt merges them.
pub fn plan(root: &Root, items: &[Item], arches: &Arches) -> Result<Vec<Archive>, String> {
    struct Entry<'a> {
        item: &'a Item,
        arches: Vec<String>,
    }
    struct Pending<'a> {
        uri: &'a str,
        suite: &'a str,
        entries: Vec<Entry<'a>>,
        /// Options that must agree across the entries of one archive (apt's `Set*`).
        fixed: BTreeMap<&'static str, Option<String>>,
    }
    let mut pending: Vec<Pending> = Vec::new();
    for item in items {
        let index = match pending
            .iter()
            .position(|p| p.uri == item.uri && p.suite == item.suite)
        {
            Some(i) => i,
            None => {
                pending.push(Pending {
                    uri: &item.uri,
                    suite: &item.suite,
                    entries: Vec::new(),
                    fixed: BTreeMap::new(),
                });
                pending.len() - 1
            }
        };
        let p = &mut pending[index];
        for key in [
            "trusted",
            "check-valid-until",
            "valid-until-min",
            "valid-until-max",
            "check-date",
            "date-max-future",
            "signed-by",
        ] {
            let value = item.options.get(key).map(|v| normalise_option(key, v));
            match p.fixed.get(key) {
                None => {
                    p.fixed.insert(key, value);
                }
                Some(old) if *old != value => {
                    return Err(format!(
                        "{}: conflicting values set for option {key} regarding source {} {}; apt refuses its sources until they agree",
                        item.origin, item.uri, item.suite
                    ));
                }
                Some(_) => {}
            }
        }
        if item.kind == Kind::Deb {
            p.entries.push(Entry {
                item,
                arches: entry_arches(&item.options, &arches.all),
            });
        }
    }
    let mut archives = Vec::new();
    for p in pending {
        let base = meta_index_uri(p.uri, p.suite, "");
        let release_file = ["InRelease", "Release"]
            .into_iter()
            .map(|name| list_path(&format!("{base}{name}")))
            .find(|path| root.file(path).exists());
        let mut lists: Vec<ListFile> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let flat = p.suite.ends_with('/');
        for entry in &p.entries {
            for arch in &entry.arches {
                let arch = if arch == "implicit:all" { "all" } else { arch };
                // A flat repository has one list for all architectures, and no component.
                let (key, arch) = if flat {
                    ("Packages".to_owned(), "")
                } else {
                    (
                        format!("{}/binary-{arch}/Packages", entry.item.component),
                        arch,
                    )
                };
                // The same list named twice (two entries for one component) is read once:
                // apt warns and skips the duplicate.
                if !seen.insert(key.clone()) {
                    continue;
                }
                if let Some((path, compression)) =
                    existing(root, &list_path(&format!("{base}{key}")))
                {
                    lists.push(ListFile {
                        path,
                        compression,
                        component: entry.item.component.clone(),
                        arch: arch.to_owned(),
                    });
                }
            }
        }
        archives.push(Archive {
            uri: p.uri.to_owned(),
            suite: p.suite.to_owned(),
            site: apt_sources::Uri::parse(p.uri).host,
            release_file,
            lists,
        });
    }
    Ok(archives)
}

/// Signed-By values compare after blanks are turned into separators, as apt normalises.
fn normalise_option(key: &str, value: &str) -> String {
    if key == "signed-by" {
        value
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        value.to_owned()
    }
}

/// The architectures of one entry: `arch=` replaces the configured ones, `arch+=` and
/// `arch-=` add and remove; `all` is added implicitly unless named or removed.
fn entry_arches(options: &BTreeMap<String, String>, configured: &[String]) -> Vec<String> {
    let split = |v: &String| v.split(',').map(str::to_owned).collect::<Vec<_>>();
    let mut values = options
        .get("arch")
        .map(split)
        .unwrap_or_else(|| configured.to_vec());
    let minus = options.get("arch-").map(split).unwrap_or_default();
    if let Some(plus) = options.get("arch+") {
        for v in split(plus) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    values.retain(|v| !minus.contains(v));
    if !minus.iter().any(|m| m == "all") && !values.iter().any(|v| v == "all") {
        values.push("implicit:all".to_owned());
    }
    values
}

/// apt's `constructMetaIndexURI`: where an archive's `Release` (or `name`) lives.
fn meta_index_uri(uri: &str, suite: &str, name: &str) -> String {
    let encoded = apt_sources::uri_encode(name);
    if suite == "/" {
        format!("{uri}{encoded}")
    } else if suite.ends_with('/') {
        format!("{uri}{}{encoded}", apt_sources::uri_encode(suite))
    } else {
        format!("{uri}dists/{}/{encoded}", apt_sources::uri_encode(suite))
    }
}

/// Absolute path of what apt downloaded from `uri`.
fn list_path(uri: &str) -> String {
    format!("{LISTS}/{}", apt_sources::uri_to_file_name(uri))
}

/// The plain list if it exists, else the first compressed form that does.
fn existing(root: &Root, plain: &str) -> Option<(String, Compression)> {
    if root.file(plain).exists() {
        return Some((plain.to_owned(), Compression::Plain));
    }
    COMPRESSED.iter().find_map(|(c, ext)| {
        let path = format!("{plain}{ext}");
        root.file(&path).exists().then_some((path, *c))
    })
}

/// Opens a list for streaming, decompressing as it is read. Decompression runs on a
/// second thread, a few chunks ahead of the parser, so that the two overlap.
pub fn open_list(root: &Root, list: &ListFile) -> io::Result<Box<dyn Read>> {
    let file = io::BufReader::with_capacity(64 * 1024, fsutil::open(&root.file(&list.path))?);
    Ok(match list.compression {
        Compression::Plain => Box::new(file),
        Compression::Gzip => Prefetch::spawn(CutIsEnd(flate2::read::MultiGzDecoder::new(file)))?,
        Compression::Lz4 => Prefetch::spawn(lz4_flex::frame::FrameDecoder::new(file))?,
        Compression::Xz => Prefetch::spawn(lzma_rust2::XzReader::new(file, true))?,
        Compression::Bzip2 | Compression::Lzma | Compression::Zstd => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this compression is not supported by grappe-agent (apt stores lists plain, lz4, gz or xz unless configured otherwise)",
            ))
        }
    })
}

/// zlib's `gzread`, which apt uses, returns what a cut-short gzip stream holds and then
/// reports the end of the file; apt reads such a list as it is.
struct CutIsEnd<R>(R);

impl<R: Read> Read for CutIsEnd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

/// A reader whose source is read ahead by a helper thread, in chunks that go back and
/// forth between the two (three in flight: bounded memory). The thread ends when the
/// source does or when the reader is dropped.
struct Prefetch {
    full: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    empty: std::sync::mpsc::SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
}

impl Prefetch {
    const CHUNK: usize = 128 * 1024;
    const IN_FLIGHT: usize = 2;

    fn spawn<R: Read + Send + 'static>(mut source: R) -> io::Result<Box<dyn Read>> {
        use std::sync::mpsc::sync_channel;
        let (full_tx, full) = sync_channel(Self::IN_FLIGHT);
        let (empty, empty_rx) = sync_channel::<Vec<u8>>(Self::IN_FLIGHT);
        for _ in 0..Self::IN_FLIGHT {
            let _ = empty.send(vec![0; Self::CHUNK]);
        }
        let worker = std::thread::Builder::new()
            .name("apt-lists".into())
            .spawn(move || {
                while let Ok(mut buf) = empty_rx.recv() {
                    buf.resize(Self::CHUNK, 0);
                    let mut n = 0;
                    let result = loop {
                        match source.read(&mut buf[n..]) {
                            Ok(0) => break Ok(()),
                            Ok(k) => {
                                n += k;
                                if n == buf.len() {
                                    break Ok(());
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    buf.truncate(n);
                    let done = n == 0 || result.is_err();
                    let message = result.map(|()| buf);
                    if full_tx.send(message).is_err() || done {
                        return;
                    }
                }
            });
        worker?;
        Ok(Box::new(Prefetch {
            full,
            empty,
            current: Vec::new(),
            pos: 0,
        }))
    }
}

impl Read for Prefetch {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.current.len() {
            let used = std::mem::take(&mut self.current);
            if used.capacity() > 0 {
                let _ = self.empty.send(used);
            }
            self.pos = 0;
            match self.full.recv() {
                Ok(Ok(chunk)) => self.current = chunk,
                Ok(Err(e)) => return Err(e),
                // The helper has finished: end of the stream.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads the Release information of an archive; `None` fields when it has no Release
/// file (apt then knows only the site).
pub fn release_of(root: &Root, archive: &Archive) -> Result<Release, String> {
    let Some(path) = &archive.release_file else {
        return Ok(Release::default());
    };
    let bytes =
        fsutil::read_bounded(&root.file(path), max::RELEASE).map_err(|e| format!("{path}: {e}"))?;
    apt_release::parse(&bytes).map_err(|e| format!("{path}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arches_of_an_entry() {
        let conf = vec!["amd64".to_string(), "i386".to_string()];
        let opts = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(
            entry_arches(&opts(&[]), &conf),
            ["amd64", "i386", "implicit:all"]
        );
        assert_eq!(
            entry_arches(&opts(&[("arch", "arm64")]), &conf),
            ["arm64", "implicit:all"]
        );
        assert_eq!(
            entry_arches(&opts(&[("arch-", "i386")]), &conf),
            ["amd64", "implicit:all"]
        );
        assert_eq!(
            entry_arches(&opts(&[("arch", "amd64,all")]), &conf),
            ["amd64", "all"]
        );
        assert_eq!(
            entry_arches(&opts(&[("arch-", "all")]), &conf),
            ["amd64", "i386"]
        );
    }

    #[test]
    fn meta_index_uris() {
        assert_eq!(
            meta_index_uri("http://deb.debian.org/debian/", "bookworm", "InRelease"),
            "http://deb.debian.org/debian/dists/bookworm/InRelease"
        );
        assert_eq!(
            meta_index_uri("file:/srv/repo/", "./", "Release"),
            "file:/srv/repo/./Release"
        );
    }
}
