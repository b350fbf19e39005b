//! The directory file (`directory.toml`) read from disk, and the clock's time as a key window
//! writes it. The directory's types, its parsing and checks and its lookups are the core's
//! (`poc247_core::directory`), re-exported here under the paths the node has always used.

use crate::error::{NodeError, Result};
use std::path::Path;

pub use poc247_core::directory::{
    decode_public_key, encode_public_key, Directory, DirectoryFile, KeyWindowFile, MlaBasis,
    PartyEntry, PartyEntryFile, Window,
};

/// Now, as a key window writes it (RFC 3339, UTC, seconds).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Reading a directory from its file: `Directory::load(path)` with this trait in scope.
pub trait LoadDirectory: Sized {
    /// Reads and checks a `directory.toml`; a bad file is refused whole with its reason.
    fn load(path: &Path) -> Result<Self>;
}

impl LoadDirectory for Directory {
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::io(path, e))?;
        Self::from_toml(&text).map_err(|message| NodeError::Directory {
            file: path.to_path_buf(),
            message,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_not_there_or_not_a_directory_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("directory.toml");
        let err = Directory::load(&path).unwrap_err().to_string();
        assert!(err.contains("directory.toml"), "{err}");
        std::fs::write(&path, "[[party]]\nid = 7\n").unwrap();
        let err = Directory::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("directory.toml") && err.contains("line 2, column 6"),
            "{err}"
        );
    }
}
