//! How the command line writes for people, in one place: the one time format (local time and
//! how long ago or ahead), colour for what is urgent or overdue (only on a terminal, never
//! with `NO_COLOR` or `--json`), and the width text must fit (the terminal's, else
//! `COLUMNS`, else 80). Machine output (`--json`) keeps the API's own values.

use serde_json::Value;
use std::io::IsTerminal as _;
use std::sync::OnceLock;

/// How text for people is written in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Colour and emphasis with ANSI escapes.
    pub colour: bool,
    /// Columns the text must fit in.
    pub width: usize,
}

/// The width when nothing says otherwise.
pub const DEFAULT_WIDTH: usize = 80;
/// Narrower than this, text is laid out as if it were this wide.
const MIN_WIDTH: usize = 40;

static STYLE: OnceLock<Style> = OnceLock::new();

/// Decides the style once, from stdout and the environment (`json`: `--json` was given).
pub fn init(json: bool) {
    let _ = STYLE.set(detect(json));
}

/// The style of this process (plain, 80 columns, until [`init`]).
pub fn style() -> Style {
    STYLE.get().copied().unwrap_or(Style {
        colour: false,
        width: DEFAULT_WIDTH,
    })
}

fn detect(json: bool) -> Style {
    let tty = std::io::stdout().is_terminal();
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let term_dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    let from_terminal = if tty {
        ratatui::crossterm::terminal::size()
            .ok()
            .map(|(w, _)| usize::from(w))
            .filter(|w| *w > 0)
    } else {
        None
    };
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|w| *w > 0);
    Style {
        colour: tty && !json && !no_colour && !term_dumb,
        width: from_terminal
            .or(columns)
            .unwrap_or(DEFAULT_WIDTH)
            .max(MIN_WIDTH),
    }
}

/// The width text must fit in.
pub fn width() -> usize {
    style().width
}

/// What a piece of text says, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// An emergency (risk to the life or safety of a person): bold red.
    Emergency,
    /// Past its deadline: red.
    Overdue,
    /// Needs attention soon, or a warning: yellow.
    Warning,
    /// Settled, verified: green.
    Good,
}

/// `text` in its tone's colour when colour is on, as it is otherwise.
pub fn paint(text: &str, tone: Tone) -> String {
    if !style().colour || text.is_empty() {
        return text.to_owned();
    }
    let code = match tone {
        Tone::Emergency => "1;31",
        Tone::Overdue => "31",
        Tone::Warning => "33",
        Tone::Good => "32",
    };
    format!("\u{1b}[{code}m{text}\u{1b}[0m")
}

/// `s` without the colour escapes of [`paint`].
pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escape = false;
    for c in s.chars() {
        if escape {
            escape = c != 'm';
        } else if c == '\u{1b}' {
            escape = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// The columns `s` takes on a terminal: characters, without the colour escapes of [`paint`].
pub fn visible_len(s: &str) -> usize {
    plain(s).chars().count()
}

/// Every line of `text` wrapped at spaces to [`width`]; a continuation keeps the line's
/// indentation plus two. A word longer than a line is cut.
pub fn fit(text: &str) -> String {
    fit_to(text, width())
}

/// [`fit`] to `width` columns.
pub fn fit_to(text: &str, width: usize) -> String {
    wrap(text, width, 2)
}

/// Lines wrapped to `width`, continuations indented `hang` more than their line.
fn wrap(text: &str, width: usize, hang: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if visible_len(body) <= width {
            out.push_str(body);
            out.push_str(nl);
            continue;
        }
        let indent = body.chars().take_while(|c| *c == ' ').count();
        let cont = " ".repeat((indent + hang).min(width / 2));
        let mut lines = Vec::new();
        let mut current = " ".repeat(indent);
        let mut len = indent;
        let mut empty = true;
        for word in body.trim_start().split(' ') {
            let mut word = word.to_owned();
            loop {
                let wl = visible_len(&word);
                let need = if empty { wl } else { wl + 1 };
                if len + need <= width || (empty && word.contains('\u{1b}')) {
                    if !empty {
                        current.push(' ');
                    }
                    current.push_str(&word);
                    len += need;
                    empty = false;
                    break;
                }
                if !empty {
                    lines.push(std::mem::replace(&mut current, cont.clone()));
                    len = cont.len();
                    empty = true;
                    continue;
                }
                // A word longer than a whole line: cut it.
                let room = width.saturating_sub(len).max(1);
                current.extend(word.chars().take(room));
                lines.push(std::mem::replace(&mut current, cont.clone()));
                len = cont.len();
                word = word.chars().skip(room).collect();
                if word.is_empty() {
                    break;
                }
            }
        }
        if !empty {
            lines.push(current);
        }
        for l in lines {
            out.push_str(l.trim_end());
            out.push('\n');
        }
        if nl.is_empty() {
            out.pop();
        }
    }
    out
}

/// A cell of a [`table`]: its text (no colour escapes) and its tone.
pub type Cell = (String, Option<Tone>);

/// Narrower than this a column is not made while words can stay whole (unless its widest
/// word is narrower).
const MIN_COLUMN: usize = 12;
/// Narrower than this a column is never made.
const HARD_MIN_COLUMN: usize = 6;

/// Rows (the first the header) as columns two spaces apart (one when tight) that fit
/// [`width`]: while they do
/// not, the widest column loses a column (down to [`MIN_COLUMN`]; the first keeps its
/// cells' first words whole, a time its date and its distance), and a cell wider than its
/// column wraps onto more lines.
pub fn table(rows: &[Vec<Cell>]) -> String {
    table_to(rows, width())
}

/// [`table`] in `width` columns.
pub fn table_to(rows: &[Vec<Cell>], width: usize) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; n];
    // Soft bounds first (whole words), then hard ones if that is not enough.
    let mut mins = vec![0usize; n];
    let mut hard = vec![0usize; n];
    for row in rows {
        for (i, (cell, _)) in row.iter().enumerate() {
            let len = cell.chars().count();
            widths[i] = widths[i].max(len);
            // A time keeps its date and its distance each on one line.
            let part = cell
                .split(" (")
                .map(|p| p.chars().count() + 1)
                .max()
                .unwrap_or(0);
            let min = if i == 0 {
                cell.split(' ').next().map_or(0, |w| w.chars().count())
            } else if cell.contains(" (") {
                part.min(len)
            } else {
                cell.split(' ')
                    .map(|w| w.chars().count())
                    .max()
                    .unwrap_or(0)
                    .min(MIN_COLUMN)
            };
            mins[i] = mins[i].max(min);
            hard[i] = hard[i].max(if i == 0 {
                min
            } else {
                len.min(HARD_MIN_COLUMN)
            });
        }
    }
    // Two spaces between columns; one when that lets every word stay whole.
    let total_with =
        |w: &[usize], gap: usize| w.iter().sum::<usize>() + gap * w.len().saturating_sub(1);
    let gap = if total_with(&widths, 2) > width && total_with(&mins, 2) > width {
        1
    } else {
        2
    };
    let total = |w: &[usize]| total_with(w, gap);
    for bounds in [&mins, &hard] {
        // The last column (free text: a name, what is owed) gives way first.
        while total(&widths) > width && n > 1 && widths[n - 1] > bounds[n - 1] {
            widths[n - 1] -= 1;
        }
        while total(&widths) > width {
            let widest = widths
                .iter()
                .enumerate()
                .filter(|(i, w)| **w > bounds[*i])
                .max_by_key(|(i, w)| (**w, usize::MAX - i))
                .map(|(i, _)| i);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<Vec<String>> = row
            .iter()
            .zip(&widths)
            .map(|((cell, _), w)| {
                // A cell that does not fit breaks first before its parenthesis.
                let cell = if cell.chars().count() > *w {
                    cell.replacen(" (", "\n(", 1)
                } else {
                    cell.clone()
                };
                wrap(&cell, *w, 0)
                    .lines()
                    .map(|l| l.trim_start().to_owned())
                    .collect()
            })
            .collect();
        let height = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
        for k in 0..height {
            let mut line = String::new();
            for (i, ((lines, (_, tone)), w)) in cells.iter().zip(row).zip(&widths).enumerate() {
                let part = lines.get(k).map_or("", String::as_str);
                let pad = w.saturating_sub(part.chars().count());
                line.push_str(&match tone {
                    Some(t) => paint(part, *t),
                    None => part.to_owned(),
                });
                if i + 1 < row.len() {
                    line.push_str(&" ".repeat(pad + gap));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// An instant from the API: RFC 3339 text or Unix milliseconds.
pub fn instant(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .and_then(chrono::DateTime::<chrono::Utc>::from_timestamp_millis),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc)),
        _ => None,
    }
}

/// The one time format for people: local time to the minute and how far from now, e.g.
/// `2026-12-04 13:05 (in 12 min)` or `2026-12-04 12:50 (3 min ago)`. A value that is not
/// an instant is shown as it is (made safe), null as `-`.
pub fn moment(v: &Value) -> String {
    match instant(v) {
        Some(t) => moment_at(t, chrono::Utc::now()),
        None => match v {
            Value::Null => "-".to_owned(),
            Value::String(s) => crate::render::clean(s),
            other => crate::render::clean(&other.to_string()),
        },
    }
}

/// [`moment`] of `t` as seen at `now`.
pub fn moment_at(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let local = t.with_timezone(&chrono::Local);
    format!(
        "{} ({})",
        local.format("%Y-%m-%d %H:%M"),
        relative(t.timestamp_millis() - now.timestamp_millis())
    )
}

/// A distance in time from now, in words: `in 12 min`, `3 min ago`, `now`.
pub fn relative(ms: i64) -> String {
    let secs = ms.unsigned_abs() / 1000;
    if secs < 60 {
        return "now".to_owned();
    }
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    let span = if d > 0 {
        if h > 0 {
            format!("{d} d {h} h")
        } else {
            format!("{d} d")
        }
    } else if h > 0 {
        format!("{h} h {m:02} min")
    } else {
        format!("{m} min")
    };
    if ms > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn distances_in_time_read_as_words() {
        assert_eq!(relative(12 * 60_000), "in 12 min");
        assert_eq!(relative(-3 * 60_000 - 5_000), "3 min ago");
        assert_eq!(relative(20_000), "now");
        assert_eq!(relative(-(2 * 3600 + 5 * 60) * 1000), "2 h 05 min ago");
        assert_eq!(relative((3 * 86_400 + 4 * 3600) * 1000), "in 3 d 4 h");
    }

    #[test]
    fn an_instant_is_local_time_and_its_distance_whether_text_or_ms() {
        let now = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(1_796_357_324_646);
        let now = now.unwrap_or_default();
        let ms = json!(1_796_357_324_646i64 + 12 * 60_000);
        let t = instant(&ms).unwrap_or_default();
        let shown = moment_at(t, now);
        assert!(shown.ends_with(" (in 12 min)"), "{shown}");
        assert!(!shown.contains("1796357"), "{shown}");
        let text = instant(&json!("2026-05-01T14:03:07Z"));
        assert!(text.is_some());
        assert_eq!(moment(&json!("soon")), "soon");
        assert_eq!(moment(&Value::Null), "-");
    }

    #[test]
    fn long_lines_wrap_under_their_indentation_and_nothing_is_lost() {
        let text = format!("    facts: {}\nshort\n", "word ".repeat(40).trim_end());
        let out = fit_to(&text, 40);
        assert!(out.lines().all(|l| visible_len(l) <= 40), "{out}");
        assert!(out
            .lines()
            .nth(1)
            .unwrap_or_default()
            .starts_with("      word"));
        assert_eq!(out.matches("word").count(), 40, "{out}");
        assert!(out.ends_with("short\n"), "{out}");
        let long = fit_to(&"x".repeat(100), 40);
        assert!(long.lines().all(|l| l.chars().count() <= 40), "{long}");
        assert_eq!(long.matches('x').count(), 100);
        assert_eq!(visible_len("\u{1b}[31mLATE\u{1b}[0m"), 4);
    }

    #[test]
    fn a_table_too_wide_wraps_its_widest_columns_and_loses_nothing() {
        let cell = |s: &str| (s.to_owned(), None);
        let rows = vec![
            vec![cell("CASE"), cell("KIND"), cell("NOTE")],
            vec![
                cell("LU-2026-000001"),
                cell("emergency_production"),
                cell(&"long text ".repeat(8)),
            ],
        ];
        let t = table_to(&rows, 50);
        assert!(t.lines().all(|l| l.chars().count() <= 50), "{t}");
        assert!(t.starts_with("CASE            KIND"), "{t}");
        assert!(t.contains("\nLU-2026-000001  "), "{t}");
        // Nothing is lost: what did not fit is on the next lines of the row.
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(words(&t).contains("long text"), "{t}");
        assert_eq!(t.matches("long").count(), 8, "{t}");
        let wide = table_to(&rows, 200);
        assert_eq!(wide.lines().count(), 2, "{wide}");
    }
}
