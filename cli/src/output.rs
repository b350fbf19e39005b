//! Writing for the caller: text or one JSON document on stdout, messages on stderr. A closed
//! pipe (`poc247 inbox | head -1`) ends the output quietly instead of panicking.

use crate::failure::Failure;
use serde_json::Value;
use std::io::Write as _;

/// What a command prints when it succeeds: text for people, the JSON for `--json`.
#[derive(Debug)]
pub struct Outcome {
    /// For people.
    pub text: String,
    /// For scripts.
    pub json: Value,
}

/// Where a command's output goes.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    /// Output in JSON (`--json`) or text.
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    /// Whether the output is one JSON document (`--json`).
    pub fn is_json(self) -> bool {
        self.json
    }

    /// Text as it happens (nothing with `--json`).
    pub fn progress(self, text: &str) -> Result<(), Failure> {
        if self.json {
            Ok(())
        } else {
            stdout(text)
        }
    }

    /// A command's result.
    pub fn finish(self, outcome: &Outcome) -> Result<(), Failure> {
        if self.json {
            document(&outcome.json)
        } else {
            stdout(&outcome.text)
        }
    }
}

/// One JSON document on stdout.
pub fn document(v: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?;
    stdout(&format!("{text}\n"))
}

/// Text on stdout; a reader that went away is not an error.
pub fn stdout(text: &str) -> Result<(), Failure> {
    written(text).map(|_| ())
}

/// One line on stdout, flushed at once (for output that follows events as they happen):
/// `false` when the reader went away and there is no point going on.
pub fn line(text: &str) -> Result<bool, Failure> {
    written(&format!("{text}\n"))
}

/// Writes and flushes; `Ok(false)` when the reader is gone.
fn written(text: &str) -> Result<bool, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Failure::internal(format!("cannot write to stdout: {e}"))),
    }
}

/// A line on stderr, prefixed `poc247: ` (nothing to do if stderr is gone).
pub fn stderr(line: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "poc247: {}",
        crate::render::clean(line)
    );
}

/// A warning from the node on stderr, as `warning: …`.
pub fn warning(text: &str) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "warning: {}",
        crate::render::clean(text)
    );
}
