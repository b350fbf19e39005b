//! The hook command (`[hook]` in `node.toml`): a program the node runs for each event, with
//! the event's JSON on its standard input — to page the officer on duty, feed a case-management
//! system, or anything else a script does. It runs on a task of its own, one event at a time
//! and in order, so a slow or hanging hook never holds up the node: it is killed at its
//! timeout and retried a bounded number of times with a short backoff. If it falls behind the
//! live events, the events it missed are counted in the log. The log names the event by its
//! ids only. The contract is in `docs/events.md`.

use crate::events::NodeEvent;
use poc247_protocol::PartyId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// `[hook]` as written in `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HookSettings {
    /// The program and its arguments: `["/usr/local/bin/page", "--team", "cyber"]`. A
    /// relative program path with a `/` is taken from the configuration file's folder; a bare
    /// name is looked up in `PATH`.
    pub command: Vec<String>,
    /// How long one run may take before it is killed, in milliseconds.
    pub timeout_ms: u64,
    /// How many times a failed run is tried again (so at most `retries + 1` runs per event).
    pub retries: u32,
    /// The pause before the first retry, in milliseconds; it doubles for each further retry.
    pub backoff_ms: u64,
    /// Only these event types (`queued`, `delivered`, …); every event if absent.
    pub types: Option<Vec<String>>,
}

impl Default for HookSettings {
    fn default() -> Self {
        HookSettings {
            command: Vec::new(),
            timeout_ms: 5_000,
            retries: 3,
            backoff_ms: 500,
            types: None,
        }
    }
}

/// The longest pause between two runs for one event.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The hook command, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How long one run may take.
    pub timeout: Duration,
    /// Runs tried again after a failure.
    pub retries: u32,
    /// The first pause before a retry.
    pub backoff: Duration,
    /// The event types passed to it; all if `None`.
    pub types: Option<BTreeSet<String>>,
}

impl HookConfig {
    /// Checks `[hook]`; a relative program path is taken from `base`.
    pub fn from_settings(s: &HookSettings, base: &Path) -> Result<Self, String> {
        let Some((program, args)) = s.command.split_first() else {
            return Err("hook.command must name a program".into());
        };
        if program.is_empty() {
            return Err("hook.command must name a program".into());
        }
        let path = Path::new(program);
        let program = if path.is_relative() && program.contains('/') {
            base.join(path)
        } else {
            path.to_path_buf()
        };
        if s.timeout_ms == 0 || s.timeout_ms > 3_600_000 {
            return Err("hook.timeout_ms must be between 1 and 3600000".into());
        }
        if s.retries > 100 {
            return Err("hook.retries must be at most 100".into());
        }
        let types = match &s.types {
            None => None,
            Some(list) => {
                if let Some(bad) = list.iter().find(|t| {
                    t.is_empty() || !t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                }) {
                    return Err(format!(
                        "hook.types: {bad:?} is not an event type (snake_case, as in docs/events.md)"
                    ));
                }
                Some(list.iter().cloned().collect())
            }
        };
        Ok(HookConfig {
            program,
            args: args.to_vec(),
            timeout: Duration::from_millis(s.timeout_ms),
            retries: s.retries,
            backoff: Duration::from_millis(s.backoff_ms),
            types,
        })
    }

    /// Whether events of type `name` are passed to the hook.
    pub fn wants(&self, name: &str) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(name))
    }

    /// The pause before retry number `n` (from 1).
    fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }
}

/// Why one run of the hook failed.
#[derive(Debug)]
pub enum Failure {
    /// The program could not be started.
    Spawn(std::io::Error),
    /// It ended with a failure status.
    Exit(ExitStatus),
    /// Waiting for it failed.
    Wait(std::io::Error),
    /// It ran past its timeout and was killed.
    Timeout(Duration),
    /// The node began to stop; the run was killed.
    Stopped,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Spawn(e) => write!(f, "cannot start: {e}"),
            Failure::Exit(s) => {
                match (s.code(), std::os::unix::process::ExitStatusExt::signal(s)) {
                    (Some(c), _) => write!(f, "exited with code {c}"),
                    (None, Some(sig)) => write!(f, "killed by signal {sig}"),
                    (None, None) => write!(f, "ended with {s}"),
                }
            }
            Failure::Wait(e) => write!(f, "cannot wait for it: {e}"),
            Failure::Timeout(t) => write!(f, "killed after its timeout of {} ms", t.as_millis()),
            Failure::Stopped => write!(f, "killed: the node is stopping"),
        }
    }
}

/// Whether the hook works: failing from the first event it gave up on until a run succeeds.
/// Shown in `status`, `pending` and `/metrics`.
#[derive(Debug, Default)]
pub struct HookHealth(std::sync::Mutex<HealthState>);

/// What [`HookHealth`] holds.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct HealthState {
    /// When the hook first gave up on an event since its last success; `None` while it works.
    pub failing_since: Option<poc247_protocol::UtcMs>,
    /// Why its last run failed.
    pub last_error: Option<String>,
    /// Events it gave up on since the node started.
    pub events_failed: u64,
}

impl HookHealth {
    fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What it holds now.
    pub fn get(&self) -> HealthState {
        self.state().clone()
    }

    fn gave_up(&self, at: poc247_protocol::UtcMs, why: &str) {
        let mut s = self.state();
        s.failing_since.get_or_insert(at);
        s.last_error = Some(why.to_owned());
        s.events_failed += 1;
    }

    fn succeeded(&self) {
        let mut s = self.state();
        s.failing_since = None;
        s.last_error = None;
    }
}

/// What the hook task tells the node: its health, and an event to publish when it gives up.
pub struct HookReport {
    /// Where its health is kept.
    pub health: std::sync::Arc<HookHealth>,
    /// Publishes a `hook_failed` event (the node's own publisher).
    pub publish: Box<dyn Fn(crate::events::EventKind) + Send + Sync>,
    /// Now.
    pub now: Box<dyn Fn() -> poc247_protocol::UtcMs + Send + Sync>,
}

/// The hook task: passes every event `rx` receives (of the types wanted) to the hook, one at a
/// time, until `cancel` fires; a run under way then is killed. An event it gives up on marks
/// the hook failing and publishes `hook_failed`; the next run that succeeds clears it.
pub async fn run(
    cfg: HookConfig,
    party: PartyId,
    mut rx: broadcast::Receiver<NodeEvent>,
    cancel: CancellationToken,
    report: HookReport,
) {
    tracing::info!(program = %cfg.program.display(), "hook started");
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = rx.recv() => r,
        };
        match next {
            // Its own alarm never goes to the hook: a failing hook would feed itself.
            Ok(ev) if matches!(ev.kind, crate::events::EventKind::HookFailed { .. }) => {}
            Ok(ev) if cfg.wants(&ev.kind.name()) => match pass(&cfg, &party, &ev, &cancel).await {
                Passed::Done => report.health.succeeded(),
                Passed::GaveUp { runs, reason } => {
                    report.health.gave_up((report.now)(), &reason);
                    (report.publish)(crate::events::EventKind::HookFailed {
                        event_seq: ev.seq,
                        event_type: ev.kind.name(),
                        runs,
                        reason,
                    });
                }
                Passed::Stopping => return,
            },
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the hook fell behind: events were not passed to it");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// How passing one event to the hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Passed {
    Done,
    GaveUp { runs: u32, reason: String },
    Stopping,
}

/// Passes one event to the hook, retrying a failed run.
async fn pass(
    cfg: &HookConfig,
    party: &PartyId,
    ev: &NodeEvent,
    cancel: &CancellationToken,
) -> Passed {
    let name = ev.kind.name();
    let case = ev.case_ref.as_ref().map(|c| c.to_string());
    let mut line = match serde_json::to_string(ev) {
        Ok(j) => j,
        Err(e) => {
            tracing::error!(seq = ev.seq, error = %e, "cannot encode an event for the hook");
            return Passed::GaveUp {
                runs: 0,
                reason: format!("the event cannot be encoded: {e}"),
            };
        }
    };
    line.push('\n');
    let runs = cfg.retries.saturating_add(1);
    let mut last = String::new();
    for n in 0..runs {
        if n > 0 {
            tokio::select! {
                _ = cancel.cancelled() => return Passed::Stopping,
                _ = tokio::time::sleep(cfg.backoff(n)) => {}
            }
        }
        match run_once(cfg, party, ev, &name, &line, cancel).await {
            Err(Failure::Stopped) => return Passed::Stopping,
            Ok(()) => {
                tracing::debug!(seq = ev.seq, r#type = %name, case = case.as_deref().unwrap_or_default(), run = n + 1, "hook done");
                return Passed::Done;
            }
            Err(f) => {
                tracing::warn!(seq = ev.seq, r#type = %name, case = case.as_deref().unwrap_or_default(), run = n + 1, of = runs, failure = %f, "hook failed");
                last = f.to_string();
            }
        }
    }
    tracing::error!(seq = ev.seq, r#type = %name, case = case.as_deref().unwrap_or_default(), runs, "hook gave up on an event");
    Passed::GaveUp { runs, reason: last }
}

/// Runs the hook once for `ev`: the JSON line on its stdin, then EOF; killed (and reaped) at
/// the timeout or when `cancel` fires.
async fn run_once(
    cfg: &HookConfig,
    party: &PartyId,
    ev: &NodeEvent,
    name: &str,
    line: &str,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let mut cmd = tokio::process::Command::new(&cfg.program);
    cmd.args(&cfg.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .env("POC247_PARTY", party.as_str())
        .env("POC247_EVENT_SEQ", ev.seq.to_string())
        .env("POC247_EVENT_TYPE", name)
        .env("POC247_EVENT_AT", ev.at.0.to_string())
        .env(
            "POC247_CASE_REF",
            ev.case_ref
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
        )
        .env(
            "POC247_MESSAGE_ID",
            ev.message_id.map(|m| m.to_string()).unwrap_or_default(),
        )
        .env(
            "POC247_CASE_KIND",
            ev.case_kind
                .map(|k| k.as_str().to_owned())
                .unwrap_or_default(),
        )
        .env(
            "POC247_URGENCY",
            ev.urgency
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
        );
    let mut child = cmd.spawn().map_err(Failure::Spawn)?;
    let stdin = child.stdin.take();
    let finished = tokio::select! {
        _ = cancel.cancelled() => None,
        r = tokio::time::timeout(cfg.timeout, async {
            if let Some(mut stdin) = stdin {
                // A hook that does not read its input may close it first: its status decides.
                if let Err(e) = stdin.write_all(line.as_bytes()).await {
                    tracing::debug!(seq = ev.seq, error = %e, "hook did not take its input");
                }
                drop(stdin);
            }
            child.wait().await
        }) => Some(r),
    };
    let failure = match finished {
        Some(Ok(Ok(status))) if status.success() => return Ok(()),
        Some(Ok(Ok(status))) => return Err(Failure::Exit(status)),
        Some(Ok(Err(e))) => return Err(Failure::Wait(e)),
        Some(Err(_)) => Failure::Timeout(cfg.timeout),
        None => Failure::Stopped,
    };
    let _ = child.start_kill();
    let _ = child.wait().await;
    Err(failure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;
    use poc247_protocol::{CaseRef, UtcMs};

    fn settings(command: &[&str]) -> HookSettings {
        HookSettings {
            command: command.iter().map(|s| s.to_string()).collect(),
            ..HookSettings::default()
        }
    }

    fn event(seq: u64, kind: EventKind) -> NodeEvent {
        let party = PartyId::parse("LU").unwrap();
        NodeEvent {
            seq,
            at: UtcMs(1_750_000_000_000),
            kind,
            case_ref: Some(CaseRef::new(&party, 2026, seq)),
            message_id: None,
            message_kind: None,
            peer: None,
            case_kind: None,
            urgency: None,
        }
    }

    #[test]
    fn hook_settings_are_checked_and_defaults_apply() {
        let base = Path::new("/etc/poc247");
        let c = HookConfig::from_settings(&settings(&["hooks/page.sh", "x"]), base).unwrap();
        assert_eq!(c.program, Path::new("/etc/poc247/hooks/page.sh"));
        assert_eq!(c.args, ["x"]);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.retries, 3);
        assert!(c.wants("anything"));
        let c = HookConfig::from_settings(&settings(&["logger"]), base).unwrap();
        assert_eq!(
            c.program,
            Path::new("logger"),
            "a bare name is looked up in PATH"
        );
        assert!(HookConfig::from_settings(&settings(&[]), base).is_err());
        assert!(HookConfig::from_settings(&settings(&[""]), base).is_err());
        let s = HookSettings {
            timeout_ms: 0,
            ..settings(&["x"])
        };
        assert!(HookConfig::from_settings(&s, base).is_err());
        let s = HookSettings {
            types: Some(vec!["Delivered".into()]),
            ..settings(&["x"])
        };
        assert!(HookConfig::from_settings(&s, base).is_err());
        let s = HookSettings {
            types: Some(vec!["delivered".into(), "deadline_due".into()]),
            ..settings(&["x"])
        };
        let c = HookConfig::from_settings(&s, base).unwrap();
        assert!(c.wants("deadline_due") && !c.wants("queued"));
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let c = HookConfig::from_settings(&settings(&["x"]), Path::new("/")).unwrap();
        assert_eq!(c.backoff(1), Duration::from_millis(500));
        assert_eq!(c.backoff(2), Duration::from_millis(1000));
        assert_eq!(c.backoff(3), Duration::from_millis(2000));
        assert_eq!(c.backoff(40), MAX_BACKOFF);
    }

    #[tokio::test]
    async fn each_event_reaches_the_hook_in_order_with_its_json_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "printf '%s %s ' \"$POC247_EVENT_TYPE\" \"$POC247_CASE_REF\" >> {0}; cat >> {0}",
            out.display()
        );
        let s = HookSettings {
            types: Some(vec!["queued".into(), "closed".into()]),
            ..settings(&["/bin/sh", "-c", &script])
        };
        let cfg = HookConfig::from_settings(&s, dir.path()).unwrap();
        let (tx, rx) = broadcast::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            cfg,
            PartyId::parse("LU").unwrap(),
            rx,
            cancel.clone(),
            report().0,
        ));
        tx.send(event(1, EventKind::Queued)).unwrap();
        tx.send(event(2, EventKind::Received)).unwrap();
        tx.send(event(3, EventKind::Closed)).unwrap();
        drop(tx);
        task.await.unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("queued LU-2026-"));
        assert!(lines[1].starts_with("closed LU-2026-"));
        let json: serde_json::Value =
            serde_json::from_str(lines[1].splitn(3, ' ').nth(2).unwrap()).unwrap();
        assert_eq!(json["type"], "closed");
        assert_eq!(json["seq"], 3);
    }

    /// A report that keeps what it is told: the health and the events published.
    fn report() -> (
        HookReport,
        std::sync::Arc<HookHealth>,
        std::sync::Arc<std::sync::Mutex<Vec<EventKind>>>,
    ) {
        let health = std::sync::Arc::new(HookHealth::default());
        let published = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let p = published.clone();
        (
            HookReport {
                health: health.clone(),
                publish: Box::new(move |k| p.lock().unwrap().push(k)),
                now: Box::new(|| UtcMs(7)),
            },
            health,
            published,
        )
    }

    #[tokio::test]
    async fn a_hook_that_gives_up_raises_its_own_alarm_until_a_run_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        // Fails on event 1, works from event 2 on.
        let script = "[ \"$POC247_EVENT_SEQ\" != 1 ] || { echo no pager >&2; exit 3; }";
        let s = HookSettings {
            retries: 1,
            backoff_ms: 1,
            ..settings(&["/bin/sh", "-c", script])
        };
        let cfg = HookConfig::from_settings(&s, dir.path()).unwrap();
        let (tx, rx) = broadcast::channel(16);
        let (rep, health, published) = report();
        let task = tokio::spawn(run(
            cfg,
            PartyId::parse("LU").unwrap(),
            rx,
            CancellationToken::new(),
            rep,
        ));
        tx.send(event(1, EventKind::Queued)).unwrap();
        // Its own alarm is never passed to it.
        tx.send(event(
            2,
            EventKind::HookFailed {
                event_seq: 1,
                event_type: "queued".into(),
                runs: 2,
                reason: "x".into(),
            },
        ))
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while health.get().failing_since.is_none() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let h = health.get();
        assert_eq!(h.failing_since, Some(UtcMs(7)));
        assert!(
            h.last_error.as_deref().unwrap_or_default().contains("3"),
            "{h:?}"
        );
        assert_eq!(
            published.lock().unwrap().as_slice(),
            [EventKind::HookFailed {
                event_seq: 1,
                event_type: "queued".into(),
                runs: 2,
                reason: h.last_error.clone().unwrap(),
            }]
        );
        tx.send(event(3, EventKind::Queued)).unwrap();
        drop(tx);
        task.await.unwrap();
        let h = health.get();
        assert_eq!(
            (h.failing_since, h.events_failed),
            (None, 1),
            "cleared by a success"
        );
    }

    #[tokio::test]
    async fn a_failing_hook_is_run_retries_plus_one_times() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!("echo run >> {}; exit 1", out.display());
        let s = HookSettings {
            retries: 2,
            backoff_ms: 1,
            ..settings(&["/bin/sh", "-c", &script])
        };
        let cfg = HookConfig::from_settings(&s, dir.path()).unwrap();
        let (tx, rx) = broadcast::channel(16);
        let task = tokio::spawn(run(
            cfg,
            PartyId::parse("LU").unwrap(),
            rx,
            CancellationToken::new(),
            report().0,
        ));
        tx.send(event(1, EventKind::Queued)).unwrap();
        drop(tx);
        task.await.unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    }

    #[tokio::test]
    async fn a_hook_past_its_timeout_is_killed_and_the_next_event_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "echo \"$POC247_EVENT_SEQ $$\" >> {}; [ \"$POC247_EVENT_SEQ\" = 2 ] || exec sleep 30",
            out.display()
        );
        let s = HookSettings {
            timeout_ms: 100,
            retries: 0,
            ..settings(&["/bin/sh", "-c", &script])
        };
        let cfg = HookConfig::from_settings(&s, dir.path()).unwrap();
        let (tx, rx) = broadcast::channel(16);
        let task = tokio::spawn(run(
            cfg,
            PartyId::parse("LU").unwrap(),
            rx,
            CancellationToken::new(),
            report().0,
        ));
        tx.send(event(1, EventKind::Queued)).unwrap();
        tx.send(event(2, EventKind::Queued)).unwrap();
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        let pid = lines[0].split(' ').nth(1).unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the hung run was killed and reaped"
        );
    }

    #[tokio::test]
    async fn stopping_the_node_kills_a_run_under_way() {
        let dir = tempfile::tempdir().unwrap();
        let s = HookSettings {
            timeout_ms: 60_000,
            ..settings(&["/bin/sh", "-c", "exec sleep 60"])
        };
        let cfg = HookConfig::from_settings(&s, dir.path()).unwrap();
        let (tx, rx) = broadcast::channel(16);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(
            cfg,
            PartyId::parse("LU").unwrap(),
            rx,
            cancel.clone(),
            report().0,
        ));
        tx.send(event(1, EventKind::Queued)).unwrap();
        tokio::task::yield_now().await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
