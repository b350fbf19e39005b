//! `poc247 board`: the duty officer's full-screen view. What is owed (`GET /v1/pending`),
//! soonest first, emergencies and overdue items highlighted, kept up to date from the node's
//! event stream (`GET /v1/events`, resumed with `Last-Event-ID` after a loss); a case opens
//! in a pane (its `show` view) and is acknowledged from there, through the same API call as
//! `poc247 ack`.

use crate::api::Api;
use crate::failure::Failure;
use crate::human;
use crate::render;
use poc247_api::client::ControlClient;
use ratatui::crossterm::event::{
    self as term, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the list is read again without an event (relative times, deadlines passing).
const REFRESH: Duration = Duration::from_secs(15);

/// What reaches the board's loop.
#[derive(Debug)]
enum Note {
    /// A key pressed.
    Key(KeyEvent),
    /// The terminal changed size.
    Resized,
    /// An event of the node.
    Event(Value),
    /// The event stream is lost (why).
    Lost(String),
    /// The event stream is back (after a loss, or the first time).
    Connected,
}

/// The connection to the node, as the officer sees it.
#[derive(Debug, Clone, PartialEq)]
enum Link {
    /// Connecting for the first time.
    Starting,
    /// Following the node's events.
    Up,
    /// Lost since.
    Lost(chrono::DateTime<chrono::Utc>),
}

/// What the officer is typing, if anything.
#[derive(Debug, Clone, PartialEq)]
enum Prompt {
    /// Nothing.
    None,
    /// The officer's name for an acknowledgement of this case.
    Officer { case: String, name: String },
}

/// The board's state.
struct Board {
    api: Api,
    party: String,
    link: Link,
    /// The body of the last `GET /v1/pending`.
    pending: Value,
    /// The references of the emergency cases (`GET /v1/cases?urgency=emergency`): what is
    /// pending does not say its case's urgency.
    emergencies: HashSet<String>,
    selected: TableState,
    /// The case open in the pane, its `show` text, and how far it is scrolled.
    open: Option<(String, String, u16)>,
    prompt: Prompt,
    /// The last thing said to the officer (and whether it is an error).
    said: (String, bool),
    /// The last event seen, in words.
    last_event: String,
    officer: Option<String>,
    colour: bool,
}

/// Runs the board on the node of `socket` until the officer quits (q or Ctrl-C). The node
/// must answer at the start (exit 3 otherwise); a loss later is shown, not fatal.
pub async fn run(socket: &Path, officer: Option<String>) -> Result<(), Failure> {
    let api = Api::new(socket);
    let status = api.get("/v1/status").await?;
    let pending = api.get("/v1/pending").await?;
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut board = Board {
        api,
        party: status["party"].as_str().unwrap_or("?").to_owned(),
        link: Link::Starting,
        pending,
        emergencies: HashSet::new(),
        selected: TableState::default().with_selected(Some(0)),
        open: None,
        prompt: Prompt::None,
        said: (String::new(), false),
        last_event: String::new(),
        officer: officer.filter(|o| !o.trim().is_empty()),
        colour,
    };
    board.read_emergencies().await;
    let (tx, rx) = mpsc::channel(256);
    let stop = Arc::new(AtomicBool::new(false));
    let events = tokio::spawn(follow(socket.to_path_buf(), tx.clone()));
    let keys = {
        let stop = stop.clone();
        std::thread::spawn(move || read_keys(&tx, &stop))
    };
    let mut terminal = ratatui::try_init()
        .map_err(|e| Failure::internal(format!("cannot take the terminal: {e}")))?;
    let result = board.run(&mut terminal, rx).await;
    ratatui::restore();
    stop.store(true, Ordering::Relaxed);
    events.abort();
    let _ = keys.join();
    result
}

/// Follows the event stream, telling the board of each event, of a loss and of the return;
/// after a loss it reconnects every second from the last event seen.
async fn follow(socket: PathBuf, tx: mpsc::Sender<Note>) {
    let client = ControlClient::new(socket);
    let mut last: Option<u64> = None;
    loop {
        let stream = match last {
            Some(n) => client.events_after(n).await,
            None => client.events().await,
        };
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                if tx.send(Note::Lost(e.to_string())).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if tx.send(Note::Connected).await.is_err() {
            return;
        }
        let why = loop {
            match stream.next().await {
                Some(Ok(e)) => {
                    if let Some(seq) = e["seq"].as_u64() {
                        last = Some(seq);
                    }
                    if tx.send(Note::Event(e)).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => break format!("the event stream broke: {e}"),
                None => break "the node ended the event stream (stopped?)".to_owned(),
            }
        };
        if tx.send(Note::Lost(why)).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads the terminal's keys on a thread of its own until `stop`.
fn read_keys(tx: &mpsc::Sender<Note>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match term::poll(Duration::from_millis(200)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        let note = match term::read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => Note::Key(k),
            Ok(Event::Resize(..)) => Note::Resized,
            Ok(_) => continue,
            Err(_) => return,
        };
        if tx.blocking_send(note).is_err() {
            return;
        }
    }
}

impl Board {
    async fn run(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        mut rx: mpsc::Receiver<Note>,
    ) -> Result<(), Failure> {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            terminal
                .draw(|f| self.draw(f))
                .map_err(|e| Failure::internal(format!("cannot draw on the terminal: {e}")))?;
            let note = tokio::select! {
                n = rx.recv() => n,
                _ = tick.tick() => {
                    self.refresh().await;
                    continue;
                }
            };
            match note {
                None => return Ok(()),
                Some(Note::Key(k)) => {
                    if !self.key(k).await {
                        return Ok(());
                    }
                }
                Some(Note::Resized) => {}
                Some(Note::Event(e)) => {
                    self.last_event = describe(&e);
                    self.refresh().await;
                    if let Some((case, _, _)) = &self.open {
                        if e["case_ref"].as_str() == Some(case.as_str()) {
                            let case = case.clone();
                            self.show(&case).await;
                        }
                    }
                }
                Some(Note::Lost(why)) => {
                    if !matches!(self.link, Link::Lost(..)) {
                        self.said = (format!("lost the node: {why}"), true);
                        self.link = Link::Lost(chrono::Utc::now());
                    }
                }
                Some(Note::Connected) => {
                    let was_lost = matches!(self.link, Link::Lost(..));
                    self.link = Link::Up;
                    if was_lost {
                        self.said = ("the node is back; following its events again".into(), false);
                    }
                    self.refresh().await;
                }
            }
        }
    }

    /// The pending items, soonest first.
    fn items(&self) -> Vec<Value> {
        self.pending["pending"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn selected_case(&self) -> Option<String> {
        let i = self.selected.selected()?;
        self.items()
            .get(i)
            .and_then(|it| it["case_ref"].as_str())
            .map(str::to_owned)
    }

    /// Reads the references of the emergency cases again, every page.
    async fn read_emergencies(&mut self) {
        let base = "/v1/cases?urgency=emergency&limit=1000";
        let mut path = base.to_owned();
        let mut found = HashSet::new();
        for _ in 0..100 {
            let Ok(page) = self.api.get(&path).await else {
                return;
            };
            for c in page["cases"].as_array().into_iter().flatten() {
                if let Some(r) = c["case_ref"].as_str() {
                    found.insert(r.to_owned());
                }
            }
            match page["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!(
                        "{base}&cursor={}",
                        poc247_api::client::percent_encode(cursor)
                    );
                }
                None => break,
            }
        }
        self.emergencies = found;
    }

    /// Reads what is owed again (and which cases are emergencies).
    async fn refresh(&mut self) {
        self.read_emergencies().await;
        match self.api.get("/v1/pending").await {
            Ok(p) => {
                // Keep the same case selected when the list moves.
                let case = self.selected_case();
                self.pending = p;
                let items = self.items();
                let at = case
                    .and_then(|c| items.iter().position(|it| it["case_ref"] == c.as_str()))
                    .unwrap_or(0);
                self.selected
                    .select((!items.is_empty()).then_some(at.min(items.len().saturating_sub(1))));
            }
            Err(e) => self.said = (format!("cannot read what is pending: {e}"), true),
        }
    }

    /// Opens the case in the pane.
    async fn show(&mut self, case: &str) {
        match self.api.get(&format!("/v1/cases/{case}")).await {
            Ok(body) => {
                let scroll = match &self.open {
                    Some((c, _, s)) if c == case => *s,
                    _ => 0,
                };
                let text = match poc247_api::read(&body) {
                    Ok(view) => human::plain(&render::timeline(&view)),
                    Err(e) => format!("the node's answer does not read as a case: {e}"),
                };
                self.open = Some((case.to_owned(), text, scroll));
            }
            Err(e) => self.said = (format!("cannot open {case}: {e}"), true),
        }
    }

    /// Acknowledges `case` as `officer`: `POST /v1/cases/{case}/acknowledge`, as `poc247 ack`.
    async fn acknowledge(&mut self, case: &str, officer: &str) {
        let mut fields = serde_json::Map::new();
        fields.insert("officer".into(), Value::String(officer.to_owned()));
        let body = poc247_api::ActionBody {
            fields,
            ..Default::default()
        };
        let body = serde_json::to_value(&body).unwrap_or(Value::Null);
        match self
            .api
            .post(&format!("/v1/cases/{case}/acknowledge"), &body)
            .await
        {
            Ok(r) => {
                self.said = (
                    format!(
                        "acknowledged {case} as {officer}; case is now {}",
                        r["state"].as_str().unwrap_or("?")
                    ),
                    false,
                );
                self.officer = Some(officer.to_owned());
            }
            Err(e) => self.said = (format!("{case} not acknowledged: {e}"), true),
        }
        self.refresh().await;
        if self.open.as_ref().is_some_and(|(c, _, _)| c == case) {
            self.show(case).await;
        }
    }

    /// Handles a key; `false` to quit.
    async fn key(&mut self, k: KeyEvent) -> bool {
        if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
            return false;
        }
        if let Prompt::Officer { case, name } = &mut self.prompt {
            match k.code {
                KeyCode::Esc => {
                    self.prompt = Prompt::None;
                    self.said = ("not acknowledged".into(), false);
                }
                KeyCode::Enter => {
                    let (case, name) = (case.clone(), name.trim().to_owned());
                    if name.is_empty() {
                        self.said = ("the officer's name is needed to acknowledge".into(), true);
                    } else {
                        self.prompt = Prompt::None;
                        self.acknowledge(&case, &name).await;
                    }
                }
                KeyCode::Backspace => {
                    name.pop();
                }
                KeyCode::Char(c) if !c.is_control() && name.chars().count() < 200 => name.push(c),
                _ => {}
            }
            return true;
        }
        let n = self.items().len();
        match k.code {
            KeyCode::Char('q') => return false,
            KeyCode::Down | KeyCode::Char('j') if n > 0 => {
                let i = self.selected.selected().map_or(0, |i| (i + 1).min(n - 1));
                self.selected.select(Some(i));
            }
            KeyCode::Up | KeyCode::Char('k') if n > 0 => {
                let i = self.selected.selected().map_or(0, |i| i.saturating_sub(1));
                self.selected.select(Some(i));
            }
            KeyCode::Home | KeyCode::Char('g') if n > 0 => self.selected.select(Some(0)),
            KeyCode::End | KeyCode::Char('G') if n > 0 => self.selected.select(Some(n - 1)),
            KeyCode::Enter | KeyCode::Char('o') => match self.selected_case() {
                Some(case) => self.show(&case).await,
                None => self.said = ("nothing to open".into(), true),
            },
            KeyCode::Esc => self.open = None,
            KeyCode::PageDown | KeyCode::Char(' ') => {
                if let Some((_, _, s)) = &mut self.open {
                    *s = s.saturating_add(10);
                }
            }
            KeyCode::PageUp => {
                if let Some((_, _, s)) = &mut self.open {
                    *s = s.saturating_sub(10);
                }
            }
            KeyCode::Char('a') => match self.selected_case() {
                Some(case) => {
                    self.prompt = Prompt::Officer {
                        case,
                        name: self.officer.clone().unwrap_or_default(),
                    };
                }
                None => self.said = ("nothing to acknowledge".into(), true),
            },
            KeyCode::Char('r') => {
                self.refresh().await;
                self.said = ("read again".into(), false);
            }
            _ => {}
        }
        true
    }

    fn style(&self, fg: Color) -> Style {
        if self.colour {
            Style::default().fg(fg)
        } else {
            Style::default()
        }
    }

    fn draw(&mut self, f: &mut Frame) {
        let items = self.items();
        let alarms = self.pending["alarms"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let footer = 2;
        let [top, alarm_area, main, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(u16::try_from(alarms.len()).unwrap_or(3).min(3)),
            Constraint::Min(3),
            Constraint::Length(footer),
        ])
        .areas(f.area());

        // The header: the node, and whether the board is following it.
        let link = match &self.link {
            Link::Starting => Span::styled("connecting …", self.style(Color::Yellow)),
            Link::Up => Span::styled("● connected: live", self.style(Color::Green)),
            Link::Lost(since) => Span::styled(
                format!(
                    "✗ LOST THE NODE {}: reconnecting …",
                    human::moment(&json!(since.to_rfc3339())),
                ),
                self.style(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        let total = self.pending["total"].as_u64().unwrap_or(items.len() as u64);
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    format!("poc247 board — {} — {total} owed — ", self.party),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                link,
            ])),
            top,
        );
        let alarm_lines: Vec<Line> = alarms
            .iter()
            .map(|a| {
                Line::from(Span::styled(
                    format!(
                        "ALARM {} → {}",
                        human::plain(&a["what"].as_str().map(render::clean).unwrap_or_default()),
                        human::plain(&a["settle"].as_str().map(render::clean).unwrap_or_default())
                    ),
                    self.style(Color::Red).add_modifier(Modifier::BOLD),
                ))
            })
            .collect();
        f.render_widget(Paragraph::new(alarm_lines), alarm_area);

        let (list_area, pane) = if self.open.is_some() {
            let [l, p] = Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)])
                .areas(main);
            (l, Some(p))
        } else {
            (main, None)
        };
        let rows: Vec<Row> = items.iter().map(|i| self.row(i)).collect();
        let header = Row::new(["DUE", "", "CASE", "URGENCY", "OWED", "WHAT"])
            .style(Style::default().add_modifier(Modifier::BOLD));
        let empty = if items.is_empty() {
            " — nothing owed"
        } else {
            ""
        };
        let table = Table::new(
            rows,
            [
                Constraint::Length(30),
                Constraint::Length(9),
                Constraint::Length(15),
                Constraint::Length(9),
                Constraint::Length(5),
                Constraint::Min(10),
            ],
        )
        .header(header)
        .block(
            Block::default()
                .borders(Borders::TOP)
                .title(format!("owed, soonest first{empty}")),
        )
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ");
        f.render_stateful_widget(table, list_area, &mut self.selected);

        if let (Some(area), Some((case, text, scroll))) = (pane, &self.open) {
            f.render_widget(
                Paragraph::new(text.as_str())
                    .wrap(Wrap { trim: false })
                    .scroll((*scroll, 0))
                    .block(
                        Block::default()
                            .borders(Borders::TOP)
                            .title(format!("{case} (Esc closes, PgUp/PgDn scroll)")),
                    ),
                area,
            );
        }

        let first = match &self.prompt {
            Prompt::Officer { case, name } => Line::from(vec![
                Span::styled(
                    format!("acknowledge {case} as officer: "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(format!("{name}▏")),
                Span::raw("  (Enter sends, Esc cancels)"),
            ]),
            Prompt::None if !self.said.0.is_empty() => Line::from(Span::styled(
                self.said.0.clone(),
                if self.said.1 {
                    self.style(Color::Red)
                } else {
                    self.style(Color::Green)
                },
            )),
            Prompt::None => Line::from(if self.last_event.is_empty() {
                String::new()
            } else {
                format!("last event: {}", self.last_event)
            }),
        };
        let keys = Line::from(Span::styled(
            "↑/↓ move  Enter open  a acknowledge  Esc close  r read again  q quit",
            Style::default().add_modifier(Modifier::DIM),
        ));
        f.render_widget(Paragraph::new(vec![first, keys]), bottom);
    }

    /// One pending item as a row: an emergency in bold red, overdue in red.
    fn row(&self, i: &Value) -> Row<'static> {
        let overdue = i["overdue"] == Value::Bool(true);
        let emergency = i["urgency"] == "emergency"
            || i["case_ref"]
                .as_str()
                .is_some_and(|c| self.emergencies.contains(c));
        let flag = if overdue && i["escalation"] == Value::Bool(true) {
            "ESCALATED"
        } else if overdue {
            "OVERDUE"
        } else {
            "due"
        };
        let text = |v: &Value| human::plain(&v.as_str().map(render::clean).unwrap_or_default());
        let mut case = text(&i["case_ref"]);
        if i["exercise"] == Value::Bool(true) {
            case.push_str(" [EX]");
        }
        let what = format!("{}: {}", text(&i["track"]), text(&i["what"]));
        let style = if emergency {
            self.style(Color::Red).add_modifier(Modifier::BOLD)
        } else if overdue {
            self.style(Color::Red)
        } else {
            Style::default()
        };
        Row::new(vec![
            Cell::from(human::moment(&i["due"])),
            Cell::from(flag),
            Cell::from(case),
            Cell::from(if emergency {
                "EMERGENCY".to_owned()
            } else {
                text(&i["urgency"])
            }),
            Cell::from(if i["owed_by_us"] == Value::Bool(true) {
                "us".to_owned()
            } else {
                text(&i["owed_by"])
            }),
            Cell::from(what),
        ])
        .style(style)
    }
}

/// An event in words, for the status line.
fn describe(e: &Value) -> String {
    let t = |k: &str| e[k].as_str().map(render::clean).unwrap_or_default();
    human::plain(
        format!(
            "{} {} {} {} ({})",
            t("type"),
            t("case_ref"),
            t("message_kind"),
            t("peer"),
            human::moment(&e["at"])
        )
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_escapes_are_taken_out_for_the_board() {
        assert_eq!(
            human::plain("\u{1b}[1;31mEMERGENCY\u{1b}[0m now"),
            "EMERGENCY now"
        );
    }
}
