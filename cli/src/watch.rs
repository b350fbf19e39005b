//! `poc247 watch`: the node's event stream (`GET /v1/events`) followed live, one line per
//! event, until the node ends it.

use crate::failure::Failure;
use crate::{output, render};
use poc247_api::client::ControlClient;
use std::path::Path;

/// Follows the events of the node on `socket`: a line of text each, or the event's JSON on
/// one line with `json`. When the node stops or the stream breaks, it says so on stderr and
/// reconnects, resuming after the last event it printed (`Last-Event-ID`), so a restart of the
/// node loses no event; it ends only when the reader goes away or on Ctrl-C. The first
/// connection must succeed (exit 3 otherwise).
pub async fn follow(socket: &Path, json: bool) -> Result<(), Failure> {
    let client = ControlClient::new(socket);
    let mut events = client.events().await?;
    // Said once the node has subscribed this stream: from now on, no event is missed.
    output::stderr(&format!(
        "following the events of {}; Ctrl-C stops",
        socket.display()
    ));
    let mut last: Option<u64> = None;
    loop {
        while let Some(event) = events.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => {
                    output::stderr(&format!("the event stream broke: {e}"));
                    break;
                }
            };
            // Read as the node's event type; its JSON is printed as the node gave it.
            let typed = poc247_api::read::<poc247_api::Event>(&event);
            if let Ok(e) = &typed {
                last = Some(e.seq);
            }
            let line = if json {
                serde_json::to_string(&event)
                    .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?
            } else {
                match &typed {
                    Ok(e) => render::event_line(e),
                    Err(why) => render::unreadable_event(why),
                }
            };
            if !output::line(&line)? {
                return Ok(());
            }
        }
        output::stderr("the node ended the event stream (stopped?); reconnecting …");
        events = loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let again = match last {
                Some(n) => client.events_after(n).await,
                None => client.events().await,
            };
            if let Ok(stream) = again {
                output::stderr("reconnected; following again");
                break stream;
            }
        };
    }
}
