//! The commands that talk to a running node through its control API: `send`, `inbox`,
//! `outbox`, `show`, `status`; and the dispatch of every resolved command.

use crate::api::Api;
use crate::failure::Failure;
use crate::output::{Outcome, Output};
use crate::settings::{Action, Mailbox, Settings};
use crate::{demo, devnet, foreground, render, request};
use poc247_node::NewRequest;
use poc247_protocol::CaseRef;
use std::path::Path;

/// Runs a resolved command and prints its result.
pub async fn execute(settings: Settings) -> anyhow::Result<()> {
    let out = Output::new(settings.json);
    let outcome = match settings.action {
        Action::Run { config, log } => return foreground::run(*config, log).await,
        Action::Demo { data } => demo::run(data, out).await?,
        Action::DevNetwork { out: dir, nodes } => devnet::write(&dir, &nodes)?,
        Action::Send { socket, request } => send(&socket, &request).await?,
        Action::Cases {
            socket,
            mailbox,
            path,
        } => cases(&socket, mailbox, &path).await?,
        Action::Show { socket, case } => show(&socket, &case).await?,
        Action::Status { socket } => {
            let body = Api::new(&socket).get("/v1/status").await?;
            Outcome {
                text: render::status(&body),
                json: body,
            }
        }
    };
    out.finish(&outcome)?;
    Ok(())
}

/// `send <kind>`: the request was checked already; the node checks it again.
async fn send(socket: &Path, request: &NewRequest) -> Result<Outcome, Failure> {
    let body = Api::new(socket)
        .post("/v1/requests", &request::to_json(request))
        .await?;
    Ok(Outcome {
        text: render::submitted(
            &body,
            &request
                .to
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        json: body,
    })
}

/// `inbox` and `outbox`.
async fn cases(socket: &Path, mailbox: Mailbox, path: &str) -> Result<Outcome, Failure> {
    let body = Api::new(socket).get(path).await?;
    Ok(Outcome {
        text: render::case_table(mailbox, &body),
        json: body,
    })
}

/// `show <case>`.
async fn show(socket: &Path, case: &CaseRef) -> Result<Outcome, Failure> {
    let body = match Api::new(socket).get(&format!("/v1/cases/{case}")).await {
        Ok(b) => b,
        Err(Failure::Refused { body, .. }) if body["error"]["code"] == "not-found" => {
            return Err(Failure::Refused {
                message: format!("no case {case}"),
                body,
            })
        }
        Err(e) => return Err(e),
    };
    Ok(Outcome {
        text: render::timeline(&body),
        json: body,
    })
}
