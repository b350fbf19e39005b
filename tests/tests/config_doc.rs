//! docs/configuration.md cannot drift from the code: every key `node.toml` accepts, read from
//! the configuration's own types, is documented in the section of its table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_node::config::ConfigFile;
use serde_json::Value;

fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The part of the document under the heading of `[table]` (or the top level).
fn section<'a>(doc: &'a str, table: Option<&str>) -> &'a str {
    let heading = match table {
        None => "## Top level".to_owned(),
        Some(t) => format!("## `[{t}]`"),
    };
    let start = doc
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/configuration.md has no section {heading}"));
    let rest = &doc[start + heading.len()..];
    &rest[..rest.find("\n## ").unwrap_or(rest.len())]
}

#[test]
fn every_key_of_node_toml_is_documented_in_its_section() {
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    // A file with every optional table present, so that serialising it names every key.
    let text = r#"
        party = "LU"
        listen = "127.0.0.1:1"
        data_dir = "data"
        directory = "directory.toml"
        ca_cert = "ca.pem"
        tls_cert = "tls.pem"
        tls_key = "tls.key"
        signing_key = "signing.key"
        [hook]
        command = ["true"]
    "#;
    let file: ConfigFile = toml::from_str(text).unwrap();
    let Value::Object(top) = serde_json::to_value(&file).unwrap() else {
        panic!("not a table")
    };
    let mut missing = Vec::new();
    let mut seen = 0;
    for (key, value) in &top {
        match value {
            Value::Object(inner) => {
                let part = section(&doc, Some(key));
                for k in inner.keys() {
                    seen += 1;
                    if !part.contains(&format!("`{k}`")) {
                        missing.push(format!("[{key}] {k}"));
                    }
                }
            }
            _ => {
                seen += 1;
                if !section(&doc, None).contains(&format!("`{key}`")) {
                    missing.push(key.clone());
                }
            }
        }
    }
    assert!(seen > 40, "only {seen} keys read from the code");
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document: {missing:?}"
    );
}
