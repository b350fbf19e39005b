//! Files attached with `--attach`: the node copies them itself (the API takes paths on the
//! node's host), so it is sent their absolute paths.

use serde_json::Value;
use std::path::PathBuf;

/// The files as absolute paths, as the node needs them (they must not depend on this shell's
/// folder).
pub fn paths_json(files: &[PathBuf]) -> Value {
    let cwd = std::env::current_dir().unwrap_or_default();
    Value::Array(
        files
            .iter()
            .map(|f| Value::String(cwd.join(f).to_string_lossy().into_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn relative_paths_become_absolute() {
        let v = paths_json(&[PathBuf::from("a.log")]);
        let p = v[0].as_str().unwrap_or_default();
        assert!(Path::new(p).is_absolute() && p.ends_with("a.log"), "{p}");
    }
}
