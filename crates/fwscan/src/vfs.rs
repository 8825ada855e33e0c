//! The unpacked image as an in-memory tree. Nothing is ever written to the host file system,
//! so hostile names cannot escape anywhere; they are still rejected or confined (and
//! reported) so that the inventory sees the tree the device would see.

use std::collections::BTreeMap;

use crate::error::ResolveError;

/// Most symbolic links followed while resolving one path (Linux uses 40).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// One node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    Symlink {
        target: String,
    },
    /// Device, FIFO or socket: recorded, never read.
    Special {
        mode: u32,
    },
}

/// Where a file system or archive layer was mounted in the tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mount {
    /// Mount point (`/` for the image itself, `/path/to/file.extracted` for nested layers).
    pub at: String,
    /// Layer chain, outermost first (e.g. `gzip`, `cpio`).
    pub formats: Vec<&'static str>,
    /// Where the data came from (`<image>` or a path in the tree) and its byte offset there.
    pub source: String,
    pub offset: u64,
}

/// A non-fatal problem: an entry that was rejected or a nested layer that failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// The layer (`<image>` or a path in the tree).
    pub at: String,
    /// Byte offset in that layer, where known.
    pub offset: Option<u64>,
    pub message: String,
}

/// Why an archive member name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafeName {
    /// A `..` component (path traversal).
    Traversal,
    /// Empty, NUL byte, or not UTF-8-representable.
    Invalid,
}

/// Normalises an archive member name into components: leading `/` and `./` are dropped
/// (as GNU tar and cpio do; `absolute` tells the caller), `.` and empty components are
/// skipped, and any `..` component is refused.
pub fn normalise(name: &str) -> Result<(Vec<&str>, bool), UnsafeName> {
    if name.contains('\0') {
        return Err(UnsafeName::Invalid);
    }
    let absolute = name.starts_with('/');
    let mut out = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(UnsafeName::Traversal),
            c => out.push(c),
        }
    }
    Ok((out, absolute))
}

/// Joins a mount point and components.
pub fn join(mount: &str, comps: &[&str]) -> String {
    let mut s = mount.trim_end_matches('/').to_owned();
    for c in comps {
        s.push('/');
        s.push_str(c);
    }
    if s.is_empty() { "/".to_owned() } else { s }
}

/// The unpacked tree.
#[derive(Debug, Default)]
pub struct Vfs {
    nodes: BTreeMap<String, Node>,
    mounts: Vec<Mount>,
    warnings: Vec<Warning>,
    file_bytes: u64,
}

impl Vfs {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Total bytes of file contents held.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    pub(crate) fn add_mount(&mut self, m: Mount) {
        self.nodes
            .entry(m.at.clone())
            .or_insert(Node::Dir { mode: 0o755 });
        self.mounts.push(m);
    }

    pub(crate) fn warn(&mut self, at: &str, offset: Option<u64>, message: String) {
        // Bounded: a hostile archive could produce one warning per entry.
        const MAX_WARNINGS: usize = 1000;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(Warning {
                at: at.to_owned(),
                offset,
                message,
            });
        }
    }

    /// Inserts a node (later entries replace earlier ones, as when extracting).
    pub(crate) fn insert(&mut self, path: String, node: Node) {
        if let Node::File { data, .. } = &node {
            self.file_bytes += data.len() as u64;
        }
        if let Some(Node::File { data, .. }) = self.nodes.insert(path, node) {
            self.file_bytes = self.file_bytes.saturating_sub(data.len() as u64);
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// All nodes in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Regular files in path order.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.nodes.iter().filter_map(|(k, v)| match v {
            Node::File { data, .. } => Some((k.as_str(), data.as_slice())),
            _ => None,
        })
    }

    /// Direct children names of a directory path.
    pub fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{}/", dir.trim_end_matches('/'))
        };
        let plen = prefix.len();
        self.nodes
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter_map(move |(k, _)| {
                let rest = &k[plen..];
                (!rest.is_empty() && !rest.contains('/')).then_some(k.as_str())
            })
    }

    /// The mount point a path belongs to (the longest mount prefix; `/` by default).
    pub fn mount_root(&self, path: &str) -> &str {
        self.mounts
            .iter()
            .map(|m| m.at.as_str())
            .filter(|at| {
                *at == "/"
                    || path == *at
                    || path.starts_with(at) && path.as_bytes().get(at.len()) == Some(&b'/')
            })
            .max_by_key(|at| at.len())
            .unwrap_or("/")
    }

    /// Resolves `path` following symbolic links in every component, confined to the mount
    /// the path lies in: `..` stops at the mount root and absolute targets start from it,
    /// as in a chroot. Returns the final path (which exists).
    pub fn resolve(&self, path: &str) -> Result<String, ResolveError> {
        let root = self.mount_root(path).to_owned();
        let root_comps: Vec<String> = root
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect();
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .rev()
            .collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0usize;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    if cur.len() > root_comps.len() {
                        cur.pop();
                    }
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let here = format!("/{}", cur.join("/"));
            match self.nodes.get(&here) {
                Some(Node::Symlink { target }) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(ResolveError::Loop {
                            path: path.to_owned(),
                        });
                    }
                    cur.pop();
                    if target.starts_with('/') {
                        cur = root_comps.clone();
                    }
                    for t in target.split('/').filter(|t| !t.is_empty()).rev() {
                        pending.push(t.to_owned());
                    }
                }
                Some(_) => {}
                // Archives need not list parent directories: an intermediate component
                // without a node is an implicit directory.
                None if !pending.is_empty() => {}
                None => {
                    return Err(ResolveError::NotFound {
                        path: path.to_owned(),
                    });
                }
            }
        }
        Ok(if cur.is_empty() {
            "/".to_owned()
        } else {
            format!("/{}", cur.join("/"))
        })
    }

    /// Contents of the regular file at `path` (after resolving links), if any.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let p = self.resolve(path).ok()?;
        match self.nodes.get(&p) {
            Some(Node::File { data, .. }) => Some(data),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_refuses_traversal() {
        assert_eq!(normalise("../etc/passwd"), Err(UnsafeName::Traversal));
        assert_eq!(normalise("a/b/../../.."), Err(UnsafeName::Traversal));
        assert_eq!(
            normalise("/etc/passwd").unwrap(),
            (vec!["etc", "passwd"], true)
        );
        assert_eq!(normalise("./etc//x").unwrap(), (vec!["etc", "x"], false));
    }

    #[test]
    fn resolve_is_confined_and_loop_safe() {
        let mut v = Vfs::new();
        v.add_mount(Mount {
            at: "/".into(),
            formats: vec!["test"],
            source: "<image>".into(),
            offset: 0,
        });
        v.insert("/etc".into(), Node::Dir { mode: 0o755 });
        v.insert(
            "/etc/passwd".into(),
            Node::File {
                data: b"root:x:0:0::/root:/bin/sh\n".to_vec(),
                mode: 0o644,
            },
        );
        v.insert(
            "/escape".into(),
            Node::Symlink {
                target: "../../../../etc/passwd".into(),
            },
        );
        v.insert("/a".into(), Node::Symlink { target: "b".into() });
        v.insert(
            "/b".into(),
            Node::Symlink {
                target: "/a".into(),
            },
        );
        assert_eq!(v.resolve("/escape").unwrap(), "/etc/passwd");
        assert!(matches!(v.resolve("/a"), Err(ResolveError::Loop { .. })));
        assert!(v.read("/escape").unwrap().starts_with(b"root:"));
    }
}
