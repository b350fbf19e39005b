//! The control API's feeds for scripts: the event stream (`GET /v1/events`, server-sent
//! events, resumable from `Last-Event-ID` or `?after=`) and the content-free statistics
//! (`GET /v1/stats`, JSON or CSV). The wire format of both is in `docs/events.md`.

use crate::api::{parse_time, ApiError};
use crate::events::NodeEvent;
use crate::handles::{Events, Tasks};
use crate::outgoing::Cases;
use crate::stats::{self, Period};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use poc247_protocol::UtcMs;
use serde::Deserialize;
use std::collections::VecDeque;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Stored events read at once while a reader catches up.
const PAGE: usize = 1000;

/// A 400 in the API's error shape.
fn bad(message: impl Into<String>) -> Response {
    let body = poc247_api::ErrorBody::new("bad-request", message, Vec::new(), Vec::new());
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// Query of `GET /v1/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay the stored events after this sequence number first.
    after: Option<String>,
}

/// Where a reader resumes: the `Last-Event-ID` header (sent by an SSE client reconnecting)
/// wins over `?after=`; neither means live events only.
pub fn resume_point(headers: &HeaderMap, after: Option<&str>) -> Result<Option<u64>, String> {
    if let Some(v) = headers.get("last-event-id") {
        let text = v.to_str().map_err(|_| "Last-Event-ID is not text")?.trim();
        // An SSE client sends an empty Last-Event-ID after an event without an id.
        if !text.is_empty() {
            return text
                .parse()
                .map(Some)
                .map_err(|_| format!("Last-Event-ID {text:?} is not an event sequence number"));
        }
    }
    match after {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|_| format!("after: {t:?} is not an event sequence number")),
    }
}

/// `GET /v1/events`: the node's events as server-sent events, `id` = the event's `seq`,
/// `data` = its JSON. With `Last-Event-ID: N` (or `?after=N`) the stored events after `N`
/// come first, then the live ones, without gap or repeat. The stream ends when the node stops.
pub async fn events(
    State(events): State<Events>,
    State(tasks): State<Tasks>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return bad(e.body_text()),
    };
    let after = match resume_point(&headers, q.after.as_deref()) {
        Ok(a) => a,
        Err(m) => return bad(m),
    };
    let (head, rx) = events.subscribe_at();
    let follow = Follow::new(events, tasks.cancel_token(), rx, head, after);
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        let ev = f.next().await?;
        Some((Ok::<_, std::convert::Infallible>(ev), f))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One reader of the event stream: the stored events it has not seen, then the live ones.
struct Follow {
    events: Events,
    rx: broadcast::Receiver<NodeEvent>,
    cancel: CancellationToken,
    /// The highest sequence number sent (or the one the reader starts after).
    last: u64,
    /// Stored events read and not yet sent.
    backlog: VecDeque<(u64, String)>,
    /// More stored events may follow the backlog.
    catching_up: bool,
    /// A note for the reader, sent before anything else.
    note: Option<String>,
}

impl Follow {
    fn new(
        events: Events,
        cancel: CancellationToken,
        rx: broadcast::Receiver<NodeEvent>,
        head: u64,
        after: Option<u64>,
    ) -> Self {
        let (last, catching_up, note) = match after {
            None => (head, false, None),
            // A number this node never gave (its data were replaced): from now on.
            Some(n) if n > head => (
                head,
                false,
                Some(format!(
                    "no event {n} here: the last is {head}; live events follow"
                )),
            ),
            Some(n) => (n, n < head, None),
        };
        Follow {
            events,
            rx,
            cancel,
            last,
            backlog: VecDeque::new(),
            catching_up,
            note,
        }
    }

    async fn next(&mut self) -> Option<Event> {
        if let Some(note) = self.note.take() {
            return Some(Event::default().comment(note));
        }
        loop {
            // A long replay does not hold up the node's shutdown.
            if self.cancel.is_cancelled() {
                return None;
            }
            if let Some((seq, json)) = self.backlog.pop_front() {
                if seq > self.last {
                    self.last = seq;
                    return Some(Event::default().id(seq.to_string()).data(json));
                }
                continue;
            }
            if self.catching_up {
                let log = self.events.log();
                let trimmed = match log.trimmed_through() {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the event log; the stream ends");
                        return None;
                    }
                };
                let page = match log.after(self.last, PAGE) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the event log; the stream ends");
                        return None;
                    }
                };
                self.catching_up = page.len() == PAGE;
                let first = page.first().map(|e| e.0);
                self.backlog.extend(page);
                if self.last < trimmed && first.is_some_and(|f| f > self.last + 1) {
                    let note = format!(
                        "events after {} up to {trimmed} are no longer kept; the oldest kept follow",
                        self.last
                    );
                    return Some(Event::default().comment(note));
                }
                continue;
            }
            let next = tokio::select! {
                _ = self.cancel.cancelled() => return None,
                r = self.rx.recv() => r,
            };
            match next {
                Ok(ev) if ev.seq <= self.last => continue,
                Ok(ev) => {
                    self.last = ev.seq;
                    let data = match serde_json::to_string(&ev) {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::error!(seq = ev.seq, error = %e, "cannot encode an event");
                            continue;
                        }
                    };
                    return Some(Event::default().id(ev.seq.to_string()).data(data));
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "an event stream reader fell behind; it catches up from the event log"
                    );
                    self.catching_up = true;
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// Query of `GET /v1/stats`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsQuery {
    /// Cases opened at or after this instant (RFC 3339, a date, or Unix ms).
    since: Option<String>,
    /// Cases opened before this instant; a date means the end of that day.
    until: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// Parses the end of a period: RFC 3339 or Unix ms as such; a date (`YYYY-MM-DD`) includes
/// that whole day.
pub fn parse_until(t: &str) -> Option<u64> {
    if t.parse::<u64>().is_err() {
        if let Ok(d) = poc247_protocol::Date::parse(t) {
            return d.start_utc_ms().checked_add(86_400_000);
        }
    }
    parse_time(t)
}

/// `GET /v1/stats?since=&until=&format=`: content-free statistics of the cases opened in the
/// period, exercise cases left out.
pub async fn stats(
    State(s): State<Cases>,
    q: Result<Query<StatsQuery>, QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(e) => return bad(e.body_text()),
    };
    let mut period = Period::default();
    if let Some(t) = q.since.as_deref().filter(|t| !t.is_empty()) {
        match parse_time(t) {
            Some(ms) => period.since = Some(UtcMs(ms)),
            None => {
                return bad(format!(
                    "since: {t:?} is not RFC 3339, a date, or Unix milliseconds"
                ))
            }
        }
    }
    if let Some(t) = q.until.as_deref().filter(|t| !t.is_empty()) {
        match parse_until(t) {
            Some(ms) => period.until = Some(UtcMs(ms)),
            None => {
                return bad(format!(
                    "until: {t:?} is not RFC 3339, a date, or Unix milliseconds"
                ))
            }
        }
    }
    let csv = match q.format.as_deref() {
        None | Some("") | Some("json") => false,
        Some("csv") => true,
        Some(f) => return bad(format!("format: {f:?} is not json or csv")),
    };
    let st = match period_stats(&s.store, &period, s.clocks.now(), &s.me.cfg().deadlines) {
        Ok(st) => st,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            st.to_csv(),
        )
            .into_response()
    } else {
        Json(st).into_response()
    }
}

/// The statistics of the cases opened in `period` (see [`stats::compute`]): read from the index
/// of opening times and counted one at a time, no case held once counted.
pub(crate) fn period_stats(
    store: &crate::store::Store,
    period: &Period,
    now: UtcMs,
    sla: &crate::tracks::TrackSettings,
) -> crate::error::Result<stats::Stats> {
    let mut tally = stats::Tally::new(period, now, sla);
    for c in store.cases_opened(period.since, period.until) {
        tally.add(&c?);
    }
    Ok(tally.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn last_event_id_wins_over_after_and_bad_numbers_are_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_point(&h, None), Ok(None));
        assert_eq!(resume_point(&h, Some("")), Ok(None));
        assert_eq!(resume_point(&h, Some("7")), Ok(Some(7)));
        assert!(resume_point(&h, Some("x")).is_err());
        h.insert("last-event-id", HeaderValue::from_static("12"));
        assert_eq!(resume_point(&h, Some("7")), Ok(Some(12)));
        h.insert("last-event-id", HeaderValue::from_static(""));
        assert_eq!(resume_point(&h, Some("7")), Ok(Some(7)));
        h.insert("last-event-id", HeaderValue::from_static("-1"));
        assert!(resume_point(&h, None).is_err());
    }

    #[test]
    fn a_date_as_the_end_of_a_period_includes_that_day() {
        let start = parse_time("2026-06-30").unwrap();
        assert_eq!(parse_until("2026-06-30"), Some(start + 86_400_000));
        assert_eq!(parse_until("2026-06-30T00:00:00Z"), Some(start));
        assert_eq!(parse_until("12345"), Some(12345));
        assert_eq!(parse_until("June"), None);
    }
}
