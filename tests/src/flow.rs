//! A network of real nodes driven through the control API, with every node's events
//! followed: the harness of the end-to-end tests of cases and rules.

use crate::*;
use poc247_node::events::{EventKind, NodeEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio::sync::broadcast::Receiver;

/// A network with every node's events followed.
pub struct Flow {
    /// The nodes.
    pub net: Net,
    /// Each node's events.
    pub events: HashMap<String, Receiver<NodeEvent>>,
}

impl Flow {
    pub async fn embedded() -> anyhow::Result<Flow> {
        Flow::with(Net::embedded().await?)
    }

    pub async fn fresh(parties: &[&str]) -> anyhow::Result<Flow> {
        let mut net = Net::fresh_prepared(parties)?;
        for p in parties {
            net.net.start_node(&party(p)).await?;
        }
        Flow::with(net)
    }

    pub fn with(net: Net) -> anyhow::Result<Flow> {
        let mut events = HashMap::new();
        for p in net.net.parties() {
            events.insert(p.to_string(), net.events(p.as_str())?);
        }
        Ok(Flow { net, events })
    }

    /// Waits until `at` has received message `id`.
    pub async fn received(&mut self, at: &str, id: &str) -> anyhow::Result<()> {
        let rx = self
            .events
            .get_mut(at)
            .ok_or_else(|| anyhow::anyhow!("no node {at}"))?;
        wait_for(rx, 10, |e| {
            e.kind == EventKind::Received
                && e.message_id.map(|m| m.to_string()).as_deref() == Some(id)
        })
        .await?;
        Ok(())
    }

    /// `from` sends a request to `to`, its warnings confirmed; returns the 201 body once `to`
    /// has it.
    pub async fn request(
        &mut self,
        from: &str,
        to: &str,
        kind: &str,
        urgency: &str,
        language: &str,
        fields: Value,
    ) -> anyhow::Result<Value> {
        // The officer confirms the node's warnings (their confirmation: tests/tests/confirm.rs).
        let body = json!({ "kind": kind, "to": to, "urgency": urgency, "language": language,
                           "fields": fields, "confirm_warnings": true });
        let done = self.net.submit(from, &body).await?;
        self.received(to, done["message_id"].as_str().unwrap_or_default())
            .await?;
        Ok(done)
    }

    /// LU sends `to` a preservation (the usual fields, with `extra` over them), in a language
    /// `to` lists; returns its case once `to` has it.
    pub async fn preservation(&mut self, to: &str, extra: Value) -> anyhow::Result<String> {
        let mut fields = preservation_fields();
        if let (Some(o), Value::Object(e)) = (fields.as_object_mut(), extra) {
            o.extend(e);
        }
        let language = if to == "CO" { "en" } else { "fr" };
        Ok(case_of(
            &self
                .request("LU", to, "preservation", "urgent", language, fields)
                .await?,
        ))
    }

    /// Posts an action; returns (status, body).
    pub async fn try_act(
        &self,
        at: &str,
        case: &str,
        action: &str,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let r = self
            .net
            .client(at)?
            .post(&format!("/v1/cases/{case}/{action}"), &body)
            .await?;
        Ok((r.status.as_u16(), r.body))
    }

    /// `at` performs `action` on `case`, its warnings confirmed; waits until the other side
    /// has the message.
    pub async fn act(
        &mut self,
        at: &str,
        case: &str,
        action: &str,
        fields: Value,
    ) -> anyhow::Result<Value> {
        let (status, body) = self
            .try_act(
                at,
                case,
                action,
                json!({ "fields": fields, "confirm_warnings": true }),
            )
            .await?;
        anyhow::ensure!(status == 201, "{action} on {case} at {at}: {status} {body}");
        let peer = self.peer_of(at, case).await?;
        self.received(&peer, body["message_id"].as_str().unwrap_or_default())
            .await?;
        Ok(body)
    }

    pub async fn peer_of(&self, at: &str, case: &str) -> anyhow::Result<String> {
        Ok(self.net.case(at, case).await?["peer"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Both sides' views of the case agree, field by field: its state and outcome, its dates
    /// and flags, every message (id, kind, `in_reply_to`, body) and every open deadline
    /// (track, label, due, owed by). Returns the first side's view. The two views converge
    /// asynchronously (a receipt reaches the sender after the receiver stored the message),
    /// so they are compared again for up to 5 s before a difference fails.
    pub async fn agree(&self, a: &str, b: &str, case: &str) -> anyhow::Result<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let x = self.net.case(a, case).await?;
            let y = self.net.case(b, case).await?;
            let (dx, dy) = (
                self.deadlines(a, case).await?,
                self.deadlines(b, case).await?,
            );
            let differ = differences(&x, &y, &dx, &dy);
            if differ.is_empty() {
                return Ok(x);
            }
            if std::time::Instant::now() >= deadline {
                anyhow::bail!(
                    "{a} and {b} disagree on {case}:\n{}\n{a}: {x}\n{b}: {y}",
                    differ.join("\n")
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The open deadlines of `case` at `at` that both sides track (not a node's own delivery
    /// alerts or retention): track, label, due, owed by.
    pub async fn deadlines(&self, at: &str, case: &str) -> anyhow::Result<Vec<Value>> {
        let r = self.net.client(at)?.get("/v1/pending").await?;
        anyhow::ensure!(r.status.as_u16() == 200, "pending at {at}: {}", r.body);
        let mut out: Vec<Value> = r.body["pending"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|d| d["case_ref"] == case)
                    .filter(|d| !matches!(d["track"].as_str(), Some("delivery" | "retention")))
                    .map(|d| json!([d["track"], d["label"], d["due_ms"], d["owed_by"]]))
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|v| v.to_string());
        Ok(out)
    }
}

/// What differs between two views of a case and their deadlines (see [`Flow::agree`]).
fn differences(x: &Value, y: &Value, dx: &[Value], dy: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for k in [
        "kind",
        "requester",
        "requested",
        "state",
        "outcome",
        "preserved_until",
        "released",
        "confirmation",
        "confirmation_required",
        "open_info_requests",
        "pending_conditions",
        "urgency",
        "language",
        "language_override",
        "exercise",
        "mla_basis",
        "preservation_case",
        "messages",
    ] {
        if x[k] != y[k] {
            out.push(format!("{k}: {} against {}", x[k], y[k]));
        }
    }
    for k in ["acknowledged_at", "decided_at"] {
        if x[k].is_null() != y[k].is_null() {
            out.push(format!("{k} is set on one side only"));
        }
    }
    let messages = |v: &Value| -> Vec<Value> {
        v["timeline"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|m| json!([m["id"], m["kind"], m["in_reply_to"], m["body"]]))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (mx, my) = (messages(x), messages(y));
    if mx != my {
        out.push(format!("messages: {mx:?} against {my:?}"));
    }
    if dx != dy {
        out.push(format!("deadlines: {dx:?} against {dy:?}"));
    }
    out
}

/// The case reference of a 201 body.
pub fn case_of(v: &Value) -> String {
    v["case_ref"].as_str().unwrap_or_default().to_owned()
}

/// A preservation's fields, as JSON.
pub fn preservation_fields() -> Value {
    serde_json::to_value(preservation()).unwrap()
}

/// A mutual-assistance request's fields, with `extra` over them.
pub fn mla_fields(extra: Value) -> Value {
    let mut v = json!({
        "requesting_authority": "Juge d'instruction, Luxembourg",
        "measure": "stored_data_access",
        "investigation": "fraud investigation by the investigating judge of Luxembourg",
        "facts": "phishing kit collecting bank credentials",
        "assistance_sought": "production of the mailbox contents",
        "purpose": "evidence for the prosecution",
        "coercive": true
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}
