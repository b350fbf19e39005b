//! `poc247 watch`: the node's event stream (`GET /v1/events`) followed live, one line per
//! event, until the node ends it.

use crate::failure::Failure;
use crate::{output, render};
use poc247_node::client::ControlClient;
use std::path::Path;

/// Follows the events of the node on `socket`: a line of text each, or the event's JSON on
/// one line with `json`. Returns when the node ends the stream or the reader goes away.
pub async fn follow(socket: &Path, json: bool) -> Result<(), Failure> {
    let mut events = ControlClient::new(socket).events().await?;
    // Said once the node has subscribed this stream: from now on, no event is missed.
    output::stderr(&format!(
        "following the events of {}; Ctrl-C stops",
        socket.display()
    ));
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| Failure::internal(format!("the event stream broke: {e}")))?;
        let line = if json {
            serde_json::to_string(&event)
                .map_err(|e| Failure::internal(format!("cannot write JSON: {e}")))?
        } else {
            render::event_line(&event)
        };
        if !output::line(&line)? {
            break;
        }
    }
    Ok(())
}
