//! The member type shared by the cpio and tar parsers.

/// What a member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind<'a> {
    File(&'a [u8]),
    Dir,
    Symlink(String),
    /// A hard link to an earlier member (by its name in the archive).
    Hardlink(String),
    /// Device, FIFO, socket.
    Special,
}

/// One archive member, borrowing its data from the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name as stored (lossily decoded as UTF-8).
    pub name: String,
    pub mode: u32,
    /// Byte offset of the member's header in the archive.
    pub offset: u64,
    pub kind: EntryKind<'a>,
}
