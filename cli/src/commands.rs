//! The commands that talk to a running node through its control API: `send`, the actions on
//! a case, `record`, `inbox`, `outbox`, `show`, `status`, `bench`; and the dispatch of every
//! resolved command.

use crate::action::CaseAction;
use crate::api::Api;
use crate::failure::{api_error, Failure};
use crate::output::{self, Outcome, Output};
use crate::request::Request;
use crate::settings::{Action, Mailbox, Settings};
use crate::{audit, demo, devnet, foreground, init, peers, render, watch};
use poc247_api::error::UNCONFIRMED_WARNINGS;
use poc247_api::{CaseAnswer, CaseList, DrillMoved, PurgeAnswer, PurgeBody, RecordBody, Resent};
use poc247_protocol::CaseRef;
use serde_json::Value;
use std::path::Path;

/// Runs a resolved command and prints its result.
pub async fn execute(settings: Settings) -> anyhow::Result<()> {
    let out = Output::new(settings.json);
    let outcome = match settings.action {
        Action::Run { config, log } => return foreground::run(*config, log).await,
        Action::Demo { data } => demo::run(data, out).await?,
        Action::DevNetwork { out: dir, nodes } => devnet::write(&dir, &nodes)?,
        Action::Send { socket, request } => send(&socket, &request, out).await?,
        Action::Act { socket, action } => act(&socket, &action, out).await?,
        Action::Record { socket, body } => record(&socket, &body).await?,
        Action::Cases {
            socket,
            mailbox,
            path,
            all: true,
        } => return Ok(all_cases(&socket, mailbox, &path, settings.json).await?),
        Action::Cases {
            socket,
            mailbox,
            path,
            all: false,
        } => cases(&socket, mailbox, &path).await?,
        Action::Export {
            socket,
            case,
            out: file,
            html,
            files,
        } => crate::bundle::export(&socket, &case, &file, html.as_deref(), files).await?,
        Action::VerifyBundle { file } => crate::bundle::verify(&file)?,
        Action::Show { socket, case } => show(&socket, &case).await?,
        Action::Fetch {
            socket,
            case,
            sha256,
            out: file,
        } => fetch(&socket, &case, &sha256, &file, out).await?,
        Action::Status { socket } => {
            let body = Api::new(&socket).get("/v1/status").await?;
            let status: poc247_api::Status = typed(&body, "GET /v1/status")?;
            Outcome {
                text: render::status(&status),
                json: body,
            }
        }
        Action::Get {
            socket,
            path,
            render,
        } => {
            let body = Api::new(&socket).get(&path).await?;
            Outcome {
                text: render(&body),
                json: body,
            }
        }
        Action::StatsCsv { socket, path } => {
            let r = poc247_api::client::ControlClient::new(&socket)
                .get_text(&path)
                .await?;
            if !r.status.is_success() {
                return Err(Failure::refused("bad-request", r.text).into());
            }
            print!("{}", r.text);
            return Ok(());
        }
        Action::DrillAdvance { socket, body } => {
            let r = Api::new(&socket).post("/v1/drill/advance", &body).await?;
            let moved: DrillMoved = typed(&r, "POST /v1/drill/advance")?;
            let hours = moved.clock_offset_ms / 3_600_000;
            let text = format!(
                "{}'s drill clock moved forward: it reads {} ({hours} h ahead)",
                moved.party,
                render::when(&Value::String(moved.now.clone())),
            );
            Outcome { text, json: r }
        }
        Action::Resend { socket, case, body } => {
            let r = Api::new(&socket)
                .post(&format!("/v1/cases/{case}/resend"), &body)
                .await?;
            let resent: Resent = typed(&r, "resend")?;
            let text = format!(
                "{} of {case} queued again (it had failed: {})",
                resent.message_id,
                render::clean(&resent.had_failed)
            );
            Outcome { text, json: r }
        }
        Action::Purge { socket, case, body } => {
            let r = Api::new(&socket)
                .post(&format!("/v1/cases/{case}/purge"), &body)
                .await?;
            let order: PurgeBody = typed(&body, "purge")?;
            let answer: PurgeAnswer = typed(&r, "purge")?;
            let what = match (order.fields.message_id, &order.fields.attachment) {
                (Some(m), _) => format!("message {m} of {case}"),
                (None, Some(h)) => format!("attachment {h} of {case}"),
                (None, None) => format!("{case}, every message and the files they alone list"),
            };
            let what = if answer.dry_run == Some(true) {
                format!("would purge {what} (dry run: nothing erased)")
            } else {
                format!("purged {what}")
            };
            Outcome {
                text: what,
                json: r,
            }
        }
        Action::Board { socket, officer } => return Ok(crate::board::run(&socket, officer).await?),
        Action::Watch { socket } => return Ok(watch::follow(&socket, settings.json).await?),
        Action::PendingAll { socket, path } => {
            return Ok(pending_all(&socket, &path, settings.json).await?)
        }
        Action::AuditVerify { socket } => audit::verify(&socket).await?,
        Action::AuditExport {
            socket,
            from,
            since,
            out: file,
        } => match audit::export(&socket, from, since.as_deref(), file.as_deref()).await? {
            Some(outcome) => outcome,
            None => return Ok(()),
        },
        Action::Bench {
            attachment: Some(bytes),
            ..
        } => bench_attachment(bytes).await?,
        Action::Bench { quick, .. } => bench(quick).await?,
        Action::BenchStore {
            cases,
            submits,
            rounds,
            keep,
        } => bench_store(cases, submits, rounds, keep).await?,
        Action::Completions { shell } => return Ok(completions(shell)?),
        Action::Compact { data_dir } => compact(data_dir).await?,
        Action::Init(opts) => init::run(&opts)?,
        Action::Rotate { config, rotate } => init::rotate(&config, rotate)?,
        Action::CheckConfig { config } => crate::registry::check_config(&config)?,
        Action::Registry(r) => crate::registry::run(&r)?,
        Action::DirectoryEntry {
            config,
            declarations,
            out,
        } => crate::registry::entry(&config, &declarations, &out)?,
        Action::DirectoryApply { socket, file } => crate::registry::apply(&socket, &file).await?,
        Action::DirectoryApplyOffline { config, file } => {
            crate::registry::apply_offline(&config, &file)?
        }
        Action::Peers { socket } => peers::list(&socket).await?,
        Action::PeersReload { socket } => peers::reload(&socket).await?,
    };
    out.finish(&outcome)?;
    Ok(())
}

/// Prints the node's warnings on stderr: `warning: …` (with the case first when a request
/// opened several).
fn warnings(body: &Value, prefix: &str) {
    for w in body["warnings"].as_array().into_iter().flatten() {
        let text = w.as_str().map_or_else(|| w.to_string(), str::to_owned);
        output::warning(&format!("{prefix}{text}"));
    }
}

/// Posts a message with attachments: each file uploaded to the node first (a bar per file),
/// then the message listing the uploads (with a spinner while the node copies any file it
/// was given by path).
async fn post_with_files(
    socket: &Path,
    path: &str,
    mut body: Value,
    out: Output,
) -> Result<Value, Failure> {
    let progress = crate::progress::wanted(out.is_json());
    let api = Api::new(socket);
    crate::attach::upload_files(&api, &mut body, progress).await?;
    // Files this process could not open are the node's to read, copy and hash.
    let by_path = body["attachments"]
        .as_array()
        .is_some_and(|a| a.iter().any(Value::is_string));
    if !by_path {
        return api.post(path, &body).await;
    }
    let label = "the node copies and checks the files it reads itself";
    crate::progress::while_waiting(progress, label, api.post(path, &body)).await
}

/// Posts a request or an action. When the node answers that its checks gave warnings to
/// confirm (nothing stored), they are printed on stderr; on a terminal (stdin and stdout, no
/// `--json`) the officer is asked, and `y` posts it again confirmed; elsewhere it fails
/// with exit 5, saying to add `--yes`.
async fn post_confirmed(
    socket: &Path,
    path: &str,
    body: Value,
    out: Output,
) -> Result<Value, Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    let err = match post_with_files(socket, path, body.clone(), out).await {
        Err(Failure::Refused { body: err, .. })
            if api_error(&err).is_some_and(|e| e.code == UNCONFIRMED_WARNINGS) =>
        {
            err
        }
        other => return other,
    };
    for w in api_error(&err)
        .and_then(|e| e.warnings)
        .into_iter()
        .flatten()
    {
        output::warning(&w);
    }
    let interactive =
        !out.is_json() && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "send anyway? [y/N] ");
        let _ = stderr.flush();
        drop(stderr);
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            let mut body = body;
            body["confirm_warnings"] = Value::Bool(true);
            return post_with_files(socket, path, body, out).await;
        }
        return Err(Failure::Unconfirmed {
            message: "not sent: nothing was stored".into(),
            body: err,
        });
    }
    Err(Failure::Unconfirmed {
        message: "not sent, nothing stored: the node's checks gave the warnings above; \
                  check them, and add --yes to send anyway"
            .into(),
        body: err,
    })
}

/// `send <kind>`: the request was checked already; the node checks it again.
async fn send(socket: &Path, request: &Request, out: Output) -> Result<Outcome, Failure> {
    let body = post_confirmed(socket, "/v1/requests", request.to_json(), out).await?;
    if body["dry_run"] == true {
        return Ok(Outcome {
            text: render::dry_run(&body),
            json: body,
        });
    }
    match body["cases"].as_array() {
        Some(cases) => {
            for c in cases {
                let case = c["case_ref"].as_str().unwrap_or("?");
                warnings(c, &format!("{case}: "));
            }
        }
        None => warnings(&body, ""),
    }
    let to: Vec<&str> = request.to.iter().map(|p| p.as_str()).collect();
    Ok(Outcome {
        text: render::submitted(&body, &to.join(",")),
        json: body,
    })
}

/// An action on a case: the message it sends, or `close`.
async fn act(socket: &Path, action: &CaseAction, out: Output) -> Result<Outcome, Failure> {
    let path = action.path();
    let body = match post_confirmed(socket, &path, action.body.clone(), out).await {
        Ok(b) => b,
        // The fallback of a node without this endpoint, not a missing case.
        Err(Failure::Refused { body, .. })
            if api_error(&body).is_some_and(|e| e.message == "no such endpoint") =>
        {
            return Err(Failure::Internal {
                message: format!(
                    "this node does not offer POST {path}: is it older than this poc247?"
                ),
                body,
            })
        }
        Err(e) => return Err(e),
    };
    if body["dry_run"] == true && action.action != "purge" {
        return Ok(Outcome {
            text: render::dry_run(&body),
            json: body,
        });
    }
    warnings(&body, "");
    Ok(Outcome {
        text: render::acted(&body, action.case.as_str()),
        json: body,
    })
}

/// `record`: a request received outside the node becomes a case.
async fn record(socket: &Path, body: &Value) -> Result<Outcome, Failure> {
    let done = Api::new(socket).post("/v1/cases", body).await?;
    warnings(&done, "");
    let asked: RecordBody = typed(body, "record")?;
    let answer: CaseAnswer = typed(&done, "POST /v1/cases")?;
    Ok(Outcome {
        text: render::recorded(&answer, &asked.record_external),
        json: done,
    })
}

/// `inbox`/`outbox`: one page.
async fn cases(socket: &Path, mailbox: Mailbox, path: &str) -> Result<Outcome, Failure> {
    let body = Api::new(socket).get(path).await?;
    let list: CaseList = typed(&body, "GET /v1/cases")?;
    Ok(Outcome {
        text: render::case_table(mailbox, &list),
        json: body,
    })
}

/// An answer of the API read into its type (`what`: the call), or an internal failure naming
/// the member that did not read.
fn typed<T: serde::de::DeserializeOwned>(body: &Value, what: &str) -> Result<T, Failure> {
    poc247_api::read(body).map_err(|e| Failure::Internal {
        message: format!("the node's answer to {what} does not read as this poc247 expects: {e}"),
        body: body.clone(),
    })
}

/// `inbox --all`/`outbox --all`: every page, each asked for with the cursor the one before
/// gave, printed as it comes and not kept (`--json`: one document, written case by case).
async fn all_cases(socket: &Path, mailbox: Mailbox, path: &str, json: bool) -> Result<(), Failure> {
    use std::io::Write;
    let api = Api::new(socket);
    let mut stdout = std::io::stdout().lock();
    let fail = |e: std::io::Error| Failure::internal(format!("cannot write: {e}"));
    let mut next = path.to_owned();
    let mut count = 0usize;
    if json {
        write!(stdout, "{{\"cases\":[").map_err(fail)?;
    }
    loop {
        let body = api.get(&next).await?;
        let cases = body["cases"].as_array().cloned().unwrap_or_default();
        if json {
            for c in &cases {
                let sep = if count == 0 { "" } else { "," };
                write!(stdout, "{sep}{c}").map_err(fail)?;
                count += 1;
            }
        } else if count == 0 || !cases.is_empty() {
            // Each page on its own, without the cursor of the next.
            let mut page: CaseList = typed(&body, "GET /v1/cases")?;
            page.next_cursor = None;
            count += page.cases.len();
            write!(stdout, "{}", render::case_table(mailbox, &page)).map_err(fail)?;
        }
        stdout.flush().map_err(fail)?;
        let Some(cursor) = body["next_cursor"].as_str() else {
            break;
        };
        next = format!(
            "{path}&cursor={}",
            poc247_api::client::percent_encode(cursor)
        );
    }
    if json {
        writeln!(stdout, "],\"next_cursor\":null}}").map_err(fail)?;
    }
    Ok(())
}

/// `pending --all`: every page, asked for with the cursor the one before gave, each printed as
/// it comes and not kept (`--json`: one document, its items written as they come).
async fn pending_all(socket: &Path, path: &str, json: bool) -> Result<(), Failure> {
    use std::io::Write;
    let api = Api::new(socket);
    let mut stdout = std::io::stdout().lock();
    let fail = |e: std::io::Error| Failure::internal(format!("cannot write: {e}"));
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut next = path.to_owned();
    let mut count = 0usize;
    if json {
        write!(stdout, "{{\"pending\":[").map_err(fail)?;
    }
    loop {
        let page = api.get(&next).await?;
        let items = page["pending"].as_array().cloned().unwrap_or_default();
        if json {
            for item in &items {
                let sep = if count == 0 { "" } else { "," };
                write!(stdout, "{sep}{item}").map_err(fail)?;
                count += 1;
            }
        } else if count == 0 || !items.is_empty() {
            // Each page on its own: the alarms once, no count of what follows, no cursor.
            let mut typed_page: poc247_api::pending::Pending = typed(&page, "GET /v1/pending")?;
            if count > 0 {
                typed_page.alarms.clear();
            }
            typed_page.total = 0;
            typed_page.next_cursor = None;
            count += items.len();
            write!(stdout, "{}", render::pending_of(&typed_page)).map_err(fail)?;
        }
        stdout.flush().map_err(fail)?;
        match page["next_cursor"].as_str() {
            Some(c) => {
                next = format!(
                    "{path}{sep}cursor={}",
                    poc247_api::client::percent_encode(c)
                )
            }
            None => break,
        }
    }
    if json {
        writeln!(stdout, "],\"total\":{count}}}").map_err(fail)?;
    }
    Ok(())
}

/// `show <case>`.
async fn show(socket: &Path, case: &CaseRef) -> Result<Outcome, Failure> {
    let body = match Api::new(socket).get(&format!("/v1/cases/{case}")).await {
        Ok(b) => b,
        Err(Failure::Refused { body, .. })
            if api_error(&body).is_some_and(|e| e.code == "not-found") =>
        {
            return Err(Failure::Refused {
                message: format!("no case {case}"),
                body,
            })
        }
        Err(e) => return Err(e),
    };
    Ok(Outcome {
        text: render::timeline(&typed(&body, "GET /v1/cases/{case}")?),
        json: body,
    })
}

/// `bench`: two nodes as child processes of this very binary; progress on stderr.
async fn bench_attachment(bytes: u64) -> Result<Outcome, Failure> {
    use poc247_bench as bench;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find this program's path: {e}")))?;
    let report = bench::attachment(&exe, bytes, |step| {
        output::stderr(&format!("bench: {step}"))
    })
    .await
    .map_err(|e| Failure::internal(format!("bench: {e}")))?;
    let json = serde_json::to_value(&report)
        .map_err(|e| Failure::internal(format!("bench report: {e}")))?;
    Ok(Outcome {
        text: bench::render_attachment(&report),
        json,
    })
}

async fn bench(quick: bool) -> Result<Outcome, Failure> {
    use poc247_bench::{self as bench, BenchOptions};
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find this program's path: {e}")))?;
    let mut opts = BenchOptions {
        exe,
        ..BenchOptions::default()
    };
    if quick {
        opts.latency_samples = 100;
        opts.messages = 1000;
        opts.offered_secs = 2;
    }
    let report = bench::run(&opts, |step| output::stderr(&format!("bench: {step}")))
        .await
        .map_err(|e| Failure::internal(format!("bench: {e}")))?;
    let json = serde_json::to_value(&report)
        .map_err(|e| Failure::internal(format!("bench report: {e}")))?;
    Ok(Outcome {
        text: bench::render(&report),
        json,
    })
}

/// `bench store --cases N`: a filled store, then its node as a child process of this binary.
async fn bench_store(
    cases: usize,
    submits: usize,
    rounds: usize,
    keep: Option<std::path::PathBuf>,
) -> Result<Outcome, Failure> {
    use poc247_bench as bench;
    if let Some(dir) = &keep {
        if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
            return Err(Failure::refused(
                "bad-request",
                format!(
                    "--keep {}: the folder must be empty or absent",
                    dir.display()
                ),
            ));
        }
    }
    let exe = std::env::current_exe()
        .map_err(|e| Failure::internal(format!("cannot find this program's path: {e}")))?;
    let opts = bench::StoreBenchOptions {
        exe,
        cases,
        submits,
        rounds,
        keep,
        ..bench::StoreBenchOptions::default()
    };
    let report = bench::store(&opts, |step| output::stderr(&format!("bench: {step}")))
        .await
        .map_err(|e| Failure::internal(format!("bench: {e}")))?;
    let json = serde_json::to_value(&report)
        .map_err(|e| Failure::internal(format!("bench report: {e}")))?;
    Ok(Outcome {
        text: bench::render_store(&report),
        json,
    })
}

/// `completions <shell>`: the script on stdout.
fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut crate::args::Cli::command(),
        "poc247",
        &mut script,
    );
    output::stdout(&String::from_utf8_lossy(&script))
}

/// `fetch`: downloads into a temporary file beside `out` (a bar on a terminal), checks the
/// hash, renames.
async fn fetch(
    socket: &Path,
    case: &CaseRef,
    sha256: &[u8; 32],
    out: &Path,
    output: Output,
) -> Result<Outcome, Failure> {
    let hex = poc247_protocol::sha256_hex(sha256);
    if out.exists() {
        return Err(Failure::refused(
            "exists",
            format!("{} exists; not overwritten", out.display()),
        ));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.{}.part", std::process::id()));
    let wanted = crate::progress::wanted(output.is_json());
    let mut bar: Option<crate::progress::Progress> = None;
    let got = poc247_api::client::ControlClient::new(socket)
        .download_with(
            &format!("/v1/cases/{case}/attachments/{hex}"),
            &tmp,
            &mut |done, total| {
                bar.get_or_insert_with(|| {
                    crate::progress::Progress::bytes(wanted, total.unwrap_or(0), &name)
                })
                .set(done)
            },
        )
        .await;
    if let Some(b) = bar {
        b.finish();
    }
    let (got, size) = match got {
        Ok(Ok(v)) => v,
        Ok(Err(r)) => {
            let message = crate::api::describe(&r);
            return Err(Failure::refused("not-found", message));
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    };
    if &got != sha256 {
        let _ = std::fs::remove_file(&tmp);
        return Err(Failure::refused(
            "hash-mismatch",
            format!(
                "the bytes received hash to {}, not {hex}; nothing written",
                poc247_protocol::sha256_hex(&got)
            ),
        ));
    }
    std::fs::rename(&tmp, out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Failure::internal(format!("{}: {e}", out.display()))
    })?;
    Ok(Outcome {
        text: format!("{} ({size} bytes, sha256 {hex})", out.display()),
        json: serde_json::json!({ "case_ref": case, "sha256": hex, "size": size, "out": out }),
    })
}

/// `compact`: the store of a stopped node copied, checked and swapped in.
async fn compact(data_dir: std::path::PathBuf) -> Result<Outcome, Failure> {
    use poc247_node::store::compact::{self, CompactError};
    let dir = data_dir.clone();
    let done = tokio::task::spawn_blocking(move || compact::compact(&dir))
        .await
        .map_err(|e| Failure::internal(format!("compact: {e}")))?;
    let c = match done {
        Ok(c) => c,
        Err(e @ CompactError::InUse(_)) => return Err(Failure::refused("in-use", e.to_string())),
        Err(e @ CompactError::Failed(_)) => return Err(Failure::internal(e.to_string())),
        Err(e) => return Err(Failure::refused("bad-request", e.to_string())),
    };
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let text = format!(
        "{}: store compacted: {:.1} MiB before, {:.1} MiB after (sled's size_on_disk); {} entries \
         ({:.1} MiB of keys and values) in {} trees copied and checked, in {:.1} s",
        c.data_dir.display(),
        mib(c.bytes_before),
        mib(c.bytes_after),
        c.entries,
        mib(c.live_bytes),
        c.trees,
        c.secs
    );
    Ok(Outcome {
        text,
        json: serde_json::to_value(&c).unwrap_or_default(),
    })
}
