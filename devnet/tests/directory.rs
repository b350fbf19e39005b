//! A directory's checks at a node (`poc247_node::peers`) over a generated development
//! network: the diff between two directories, and a directory without this node or with
//! another key for it refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use poc247_devnet::devnet;
use poc247_node::peers::{check_directory, diff, DirectoryDiff};
use poc247_node::Directory;
use poc247_protocol::PartyId;
use std::net::SocketAddr;

fn p(s: &str) -> PartyId {
    PartyId::parse(s).unwrap()
}

fn network(dir: &std::path::Path, parties: &[&str]) -> (std::path::PathBuf, String) {
    let out = dir.join("net");
    let list: Vec<_> = parties
        .iter()
        .enumerate()
        .map(|(i, s)| (p(s), SocketAddr::from(([127, 0, 0, 1], 41000 + i as u16))))
        .collect();
    devnet::generate(&out, &list).unwrap();
    let text = std::fs::read_to_string(out.join("directory.toml")).unwrap();
    (out, text)
}

#[test]
fn the_diff_names_added_removed_changed_and_repinned_parties() {
    let dir = tempfile::tempdir().unwrap();
    let (_, text) = network(dir.path(), &["LU", "FR", "CO"]);
    let old = Directory::from_toml(&text).unwrap();
    let mut file = old.to_file();
    file.party.retain(|e| e.id != "CO");
    for e in &mut file.party {
        if e.id == "FR" {
            e.addresses = vec!["127.0.0.1:9".into()];
            e.spki_sha256 = Some("00".repeat(32));
        }
        if e.id == "LU" {
            e.name = "renamed, but it is this node".into();
        }
    }
    let mut de = file.party[0].clone();
    de.id = "DE".into();
    file.party.push(de);
    let new = Directory::from_file(file).unwrap();
    let d = diff(&old, &new, &p("LU"));
    assert_eq!(d.added, vec![p("DE")]);
    assert_eq!(d.removed, vec![p("CO")]);
    assert_eq!(d.changed, vec![p("FR")]);
    assert_eq!(d.repinned, vec![p("FR")]);
    assert_eq!(diff(&old, &old, &p("LU")), DirectoryDiff::default());
}

#[test]
fn a_directory_without_this_node_or_with_another_key_for_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (out, text) = network(dir.path(), &["LU", "FR"]);
    let cfg = devnet::node_config(&out, &p("LU")).unwrap();
    let key = poc247_node::keys::load_signing_key(&cfg.signing_key)
        .unwrap()
        .verifying_key();
    assert!(check_directory(&text, &p("LU"), &[key]).is_ok());
    let err = check_directory(&text, &p("CO"), &[key]).unwrap_err();
    assert!(err.contains("party CO is not in the directory"), "{err}");
    let fr = devnet::node_config(&out, &p("FR")).unwrap();
    let fr_key = poc247_node::keys::load_signing_key(&fr.signing_key)
        .unwrap()
        .verifying_key();
    let err = check_directory(&text, &p("LU"), &[fr_key]).unwrap_err();
    assert!(err.contains("not this node's"), "{err}");
    let err = check_directory("[[party]]\nid = ", &p("LU"), &[key]).unwrap_err();
    assert!(err.starts_with("line 2"), "{err}");
}
