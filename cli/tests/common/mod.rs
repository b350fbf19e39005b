//! What the CLI's integration tests share: running the real `poc247` binary with a clean
//! environment and collecting what it did.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod network;

use serde_json::Value;
use tokio::process::Command;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Ran {
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// Standard output as JSON (`--json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// The binary, with no socket, config or log filter inherited from the environment.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_poc247"));
    c.env_remove("POC247_SOCKET")
        .env_remove("POC247_CONFIG")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    c
}

/// Runs the binary with `args` to the end.
pub async fn poc247(args: &[&str]) -> Ran {
    let out = bin().args(args).output().await.unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
