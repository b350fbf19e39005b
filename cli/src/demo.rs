//! `poc247 demo`: the checked-in development network (LU, FR, CO) started in this process on
//! loopback, one preservation request sent LU → FR through LU's real control socket, and its
//! path shown: queued, delivered with a verified receipt, present in FR's inbox.

use crate::api::Api;
use crate::failure::Failure;
use crate::output::{Outcome, Output};
use crate::render::clean;
use poc247_devnet::localnet::{LocalNetwork, Pki};
use poc247_node::clock::{Clock, SystemClock};
use poc247_node::events::{EventKind, NodeEvent};
use poc247_protocol::{PartyId, UtcMs};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How long the demo waits for the delivery.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);

/// The demo's request: fictitious, in French, marked as an exercise.
fn request() -> Value {
    json!({
        "kind": "preservation",
        "to": "FR",
        "urgency": "urgent",
        "language": "fr",
        "exercise": true,
        "fields": {
            "requesting_authority": "Parquet du tribunal d'arrondissement de Luxembourg, cabinet du juge d'instruction",
            "offence": "Accès frauduleux à un système de traitement automatisé de données et escroquerie (art. 509-1 et 496 du Code pénal)",
            "facts": "Depuis le 2 mai, une campagne d'hameçonnage imitant une banque luxembourgeoise a recueilli les identifiants bancaires d'environ 300 clients ; 41 virements frauduleux ont suivi.",
            "data": "Contenu de la boîte aux lettres kit-drop@example.net et journaux de connexion (adresses IP, horodatages) du 1er au 15 mai",
            "relation_to_offence": "Le kit d'hameçonnage envoie les identifiants volés à cette boîte aux lettres.",
            "custodian_or_location": "ExampleMail SAS, 10 rue de l'Exemple, 75002 Paris (hébergeur de la boîte aux lettres)",
            "necessity": "Le fournisseur efface les journaux de connexion après 7 jours.",
            "mla_intent": true,
        },
    })
}

fn party(s: &str) -> Result<PartyId, Failure> {
    PartyId::parse(s).map_err(|e| Failure::internal(e.to_string()))
}

/// `14:03:07.123 UTC`.
fn clock(at: UtcMs) -> String {
    let format =
        time::macros::format_description!("[hour]:[minute]:[second].[subsecond digits:3] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| format!("{} ms", at.0))
}

/// Runs the demo; the network is stopped whatever happens.
pub async fn run(data: Option<PathBuf>, out: Output) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    if std::env::var_os("RUST_LOG").is_some() {
        crate::foreground::init_logging(crate::args::LogFormat::Human, "warn");
    }
    let tmp;
    let (dir, kept) = match &data {
        Some(d) => (d.join("net"), true),
        None => {
            tmp = tempfile::Builder::new()
                .prefix("poc247-demo-")
                .tempdir()
                .map_err(|e| Failure::internal(format!("cannot make a temporary folder: {e}")))?;
            (tmp.path().join("net"), false)
        }
    };
    if kept && dir.exists() {
        return Err(Failure::refused(
            "exists",
            format!(
                "{} exists already: choose another --data folder or remove it",
                dir.display()
            ),
        )
        .into());
    }
    let net = LocalNetwork::start(&dir, &Pki::Embedded)
        .await
        .map_err(|e| Failure::internal(format!("the local network did not start: {e}")))?;
    let result = scenario(&net, &dir, kept, out).await;
    net.shutdown().await;
    let mut outcome = result?;
    let total = started.elapsed();
    outcome.text = format!(
        "{}network stopped; {:.1} s in all{}\n",
        outcome.text,
        total.as_secs_f64(),
        if kept {
            format!("; its files stay in {}", clean(&dir.display().to_string()))
        } else {
            String::new()
        }
    );
    Ok(outcome)
}

async fn scenario(
    net: &LocalNetwork,
    dir: &Path,
    kept: bool,
    out: Output,
) -> Result<Outcome, Failure> {
    let (lu, fr) = (party("LU")?, party("FR")?);
    let mut nodes = Vec::new();
    for p in net.parties() {
        let cfg = net
            .config(&p)
            .map_err(|e| Failure::internal(e.to_string()))?;
        nodes.push(format!("{p} {}", cfg.listen));
    }
    out.progress(&format!(
        "poc247 demo: the development network in this process, real QUIC on loopback, real sled files\n\
         \x20 folder {}{}\n\
         {}  nodes started: {}\n",
        clean(&dir.display().to_string()),
        if kept { "" } else { " (removed at the end)" },
        clock(SystemClock.now()),
        nodes.join(", ")
    ))?;
    let lu_node = net
        .node(&lu)
        .ok_or_else(|| Failure::internal("LU's node is not running"))?;
    let mut events = lu_node.events().subscribe();
    let lu_api = Api::new(
        &net.config(&lu)
            .map_err(|e| Failure::internal(e.to_string()))?
            .socket,
    );
    let fr_api = Api::new(
        &net.config(&fr)
            .map_err(|e| Failure::internal(e.to_string()))?
            .socket,
    );

    let submitted = lu_api.post("/v1/requests", &request()).await?;
    let case_ref = submitted["case_ref"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message_id = submitted["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if case_ref.is_empty() || message_id.is_empty() {
        return Err(Failure::internal(format!(
            "LU's answer names no case or message: {submitted}"
        )));
    }
    let (queued, delivered) = wait_delivered(&mut events, &message_id).await?;
    out.progress(&format!(
        "{}  queued     {case_ref} (message {message_id}): preservation LU → FR, urgent, fr, exercise\n",
        clock(queued.unwrap_or(delivered.at)),
    ))?;
    let EventKind::Delivered { receiver_key } = &delivered.kind else {
        return Err(Failure::internal("not a delivery event"));
    };

    let at_lu = lu_api.get(&format!("/v1/cases/{case_ref}")).await?;
    let receipt = &at_lu["timeline"][0]["receipt"];
    if receipt["verified"] != Value::Bool(true) || receipt["receiver"] != "FR" {
        return Err(Failure::internal(format!(
            "LU holds no verified receipt from FR for {case_ref}: {receipt}"
        )));
    }
    let key = receipt["receiver_key"].as_str().unwrap_or(receiver_key);
    out.progress(&format!(
        "{}  delivered  (receipt verified, signed by FR key {})\n",
        clock(delivered.at),
        clean(key)
    ))?;

    let inbox = fr_api.get("/v1/cases?role=requested").await?;
    let listed = inbox["cases"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["case_ref"] == case_ref.as_str()));
    let at_fr = fr_api.get(&format!("/v1/cases/{case_ref}")).await?;
    if !listed || at_fr["role"] != "requested" {
        return Err(Failure::internal(format!(
            "{case_ref} is not in FR's inbox: {inbox}"
        )));
    }
    out.progress(&format!(
        "{}  present in FR's inbox as {case_ref} [EXERCISE] (role requested, state {})\n",
        clock(SystemClock.now()),
        clean(at_fr["state"].as_str().unwrap_or("?")),
    ))?;
    let latency = delivered.at.since(queued.unwrap_or(delivered.at));
    Ok(Outcome {
        text: format!("delivered {latency} ms after it was queued\n"),
        json: json!({
            "network": dir,
            "case_ref": case_ref,
            "message_id": message_id,
            "queued_at": queued.map(UtcMs::rfc3339),
            "delivered_at": delivered.at.rfc3339(),
            "receiver_key": key,
            "at_requester": at_lu,
            "fr_inbox": inbox,
        }),
    })
}

/// Waits on LU's events for the delivery of `id`: the time it was queued (if seen) and the
/// delivery event. A refusal by FR or no delivery within [`DELIVERY_TIMEOUT`] fails.
async fn wait_delivered(
    events: &mut broadcast::Receiver<NodeEvent>,
    id: &str,
) -> Result<(Option<UtcMs>, NodeEvent), Failure> {
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    let mut queued = None;
    loop {
        let ev = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => {
                return Err(Failure::internal(format!(
                    "message {id} was not delivered within {} s",
                    DELIVERY_TIMEOUT.as_secs()
                )))
            }
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => {
                return Err(Failure::internal("LU's node stopped"))
            }
            Ok(Ok(ev)) => ev,
        };
        if ev.message_id.map(|m| m.to_string()).as_deref() != Some(id) {
            continue;
        }
        match &ev.kind {
            EventKind::Queued => queued = Some(ev.at),
            EventKind::Delivered { .. } => return Ok((queued, ev)),
            EventKind::DeliveryFailed { reason } => {
                return Err(Failure::internal(format!(
                    "FR refused message {id}: {}",
                    clean(reason)
                )))
            }
            _ => {}
        }
    }
}
