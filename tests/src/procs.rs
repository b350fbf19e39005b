//! Nodes as real `poc247 run` processes: started from their `node.toml` with stderr appended
//! to a log file, ready once the control socket answers, killed with SIGKILL (nothing is
//! flushed, nothing is closed) or stopped with SIGTERM, and restarted on the same
//! configuration and port. A process left running when its handle is dropped is killed.

use anyhow::{bail, Context, Result};
use poc247_api::client::ControlClient;
use poc247_node::NodeConfig;
use poc247_protocol::PartyId;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// How often the control socket is tried while a process starts: a child process gives no
/// event when it is ready, so this one poll is bounded by [`START_TIMEOUT`].
const READY_POLL: Duration = Duration::from_millis(10);
/// Longest a node may take to answer on its control socket after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One node run as a `poc247 run --config <node.toml>` process.
#[derive(Debug)]
pub struct NodeProcess {
    party: PartyId,
    bin: PathBuf,
    config_path: PathBuf,
    config: NodeConfig,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
    run_args: Vec<String>,
}

impl NodeProcess {
    /// A node of the binary `bin` with the configuration file `config_path`, logging to `log`
    /// (appended to over restarts). Not started yet.
    pub fn new(bin: &Path, config_path: &Path, log: &Path) -> Result<NodeProcess> {
        let config = NodeConfig::load(config_path)?;
        Ok(NodeProcess {
            party: config.party.clone(),
            bin: bin.to_path_buf(),
            config_path: config_path.to_path_buf(),
            config,
            log: log.to_path_buf(),
            child: None,
            starts: 0,
            run_args: Vec::new(),
        })
    }

    /// Passes `args` to `run` (`--log-format json` …) at each start.
    pub fn with_run_args(mut self, args: &[&str]) -> NodeProcess {
        self.run_args = args.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// The node's party.
    pub fn party(&self) -> &PartyId {
        &self.party
    }

    /// The node's configuration as loaded from its file.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// A client of the node's control socket.
    pub fn client(&self) -> ControlClient {
        ControlClient::new(&self.config.socket)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Whether a process was started and not yet killed or stopped.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// How many times the process was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Spawns the process (with `RUST_LOG=warn` unless `rust_log` says otherwise) and returns
    /// once its control socket answers `GET /v1/status`.
    pub async fn start(&mut self, rust_log: Option<&str>) -> Result<()> {
        if self.child.is_some() {
            bail!("{} is already running", self.party);
        }
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        writeln!(log, "==== start {} of {} ====", self.starts, self.party)?;
        let child = Command::new(&self.bin)
            .arg("run")
            .args(&self.run_args)
            .arg("--config")
            .arg(&self.config_path)
            .env_remove("POC247_SOCKET")
            .env_remove("POC247_CONFIG")
            .env("RUST_LOG", rust_log.unwrap_or("warn"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawn {}", self.bin.display()))?;
        self.child = Some(child);
        self.wait_ready().await
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let client = self.client();
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(r) = client.get("/v1/status").await {
                if r.status.is_success() && r.body["party"] == self.party.as_str() {
                    return Ok(());
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "{} exited during start-up ({status}); its log ends with:\n{}",
                        self.party,
                        self.log_tail(30)
                    );
                }
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{} did not answer on {} within {START_TIMEOUT:?}; its log ends with:\n{}",
                    self.party,
                    self.config.socket.display(),
                    self.log_tail(30)
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.party);
        };
        // `Child::kill` sends SIGKILL on Unix, then waits for the process.
        child
            .kill()
            .await
            .with_context(|| format!("SIGKILL {}", self.party))?;
        Ok(())
    }

    /// Stops the process with SIGTERM and waits (at most `limit`) for it to exit.
    pub async fn stop(&mut self, limit: Duration) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("{} is not running", self.party);
        };
        let pid = child
            .id()
            .with_context(|| format!("{} has no pid", self.party))?;
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        if !sent.success() {
            bail!("kill -TERM {pid} ({}) failed: {sent}", self.party);
        }
        match tokio::time::timeout(limit, child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                let _ = child.kill().await;
                bail!(
                    "{} did not stop within {limit:?} of SIGTERM; its log ends with:\n{}",
                    self.party,
                    self.log_tail(30)
                )
            }
        }
    }

    /// The last `lines` lines of the node's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The node's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
}

/// A fresh LU/FR network written under `dir` (its own dev CA), with `extra` appended to each
/// `node.toml`, as two processes of `bin` logging to `<dir>/lu.log` and `<dir>/fr.log`. Not
/// started yet.
pub fn lu_fr_pair(bin: &Path, dir: &Path, extra: &str) -> Result<(NodeProcess, NodeProcess)> {
    lu_fr_pair_each(bin, dir, |_| extra.to_owned())
}

/// As [`lu_fr_pair`], with `extra("lu")` appended to LU's `node.toml` and `extra("fr")` to
/// FR's.
pub fn lu_fr_pair_each(
    bin: &Path,
    dir: &Path,
    extra: impl Fn(&str) -> String,
) -> Result<(NodeProcess, NodeProcess)> {
    network_of(bin, dir, &["LU", "FR"], extra)
}

/// A fresh network of `parties` written under `dir`, LU and FR as processes of `bin` (the
/// other parties' identities are there for a test to use).
pub fn network_of(
    bin: &Path,
    dir: &Path,
    parties: &[&str],
    extra: impl Fn(&str) -> String,
) -> Result<(NodeProcess, NodeProcess)> {
    let net = dir.join("net");
    poc247_devnet::localnet::LocalNetwork::prepare(
        &net,
        &poc247_devnet::localnet::Pki::Fresh(parties.iter().map(|p| crate::party(p)).collect()),
    )?;
    let node = |p: &str| -> Result<NodeProcess> {
        let config = net.join(p).join("node.toml");
        let mut text = std::fs::read_to_string(&config)?;
        text.push_str(&extra(p));
        std::fs::write(&config, text)?;
        NodeProcess::new(bin, &config, &dir.join(format!("{p}.log")))
    };
    Ok((node("lu")?, node("fr")?))
}
