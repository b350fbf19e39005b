//! The flags of a body's fields, built from the protocol's table of fields
//! ([`poc247_protocol::fields`]): one flag per field that is a single value, named after it
//! (`--emergency-facts` for `emergency_facts`), with the table's help, value name and checks.
//! Adding a field to a kind is one change, in the table. The fields that are structures
//! (`communication`, `service_providers`, `attachments` …) keep their own flags, declared
//! where they are taken.

use super::Closed;
use clap::builder::BoolishValueParser;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use poc247_protocol::fields::{self as table, Field, Shape};
use poc247_protocol::MessageKind;
use serde_json::{Map, Value};

/// The flag of a field: `--field-name`.
pub fn long(field: &str) -> String {
    field.replace('_', "-")
}

/// The flag of one field; `None` for a field that is not a single flag.
pub fn arg(f: &Field) -> Option<Arg> {
    let base = Arg::new(f.name)
        .long(long(f.name))
        .help(f.help)
        .required(false);
    let valued = |a: Arg| {
        a.value_name(f.value_name)
            .num_args(1)
            .action(ArgAction::Set)
    };
    Some(match f.shape {
        Shape::Text => valued(base).allow_hyphen_values(true),
        Shape::Refused => valued(base).allow_hyphen_values(true).hide(true),
        Shape::Date => valued(base),
        Shape::Choice(values) => valued(base).value_parser(Closed::of(values)),
        Shape::Switch => base.action(ArgAction::SetTrue),
        Shape::YesNo => valued(base).value_parser(BoolishValueParser::new()),
        Shape::TextList => base
            .value_name(f.value_name)
            .num_args(1)
            .action(ArgAction::Append)
            .allow_hyphen_values(true),
        Shape::Integer => valued(base).value_parser(clap::value_parser!(i64)),
        Shape::Structured | Shape::SetByNode => return None,
    })
}

/// The flags of `fields`, in their order.
pub fn args(fields: &[Field]) -> Vec<Arg> {
    fields.iter().filter_map(arg).collect()
}

/// A clap error for a value of the wrong type (the flags and their reading disagree).
fn wrong(field: &str, e: impl std::fmt::Display) -> clap::Error {
    clap::Error::raw(
        ErrorKind::ValueValidation,
        format!("--{}: {e}\n", long(field)),
    )
}

/// The fields given by the flags of `fields`, as the body's JSON: the flags not given and the
/// switches not set are left out (a switch cannot say "no", so an unset one leaves a file's
/// value alone); a yes/no is always said when given.
pub fn given(fields: &[Field], m: &ArgMatches) -> Result<Map<String, Value>, clap::Error> {
    let mut out = Map::new();
    for f in fields {
        let id = f.name;
        let value = match f.shape {
            Shape::Text | Shape::Refused | Shape::Date | Shape::Choice(_) => m
                .try_get_one::<String>(id)
                .map_err(|e| wrong(id, e))?
                .map(|s| Value::String(s.clone())),
            Shape::Switch => m
                .try_get_one::<bool>(id)
                .map_err(|e| wrong(id, e))?
                .and_then(|b| b.then_some(Value::Bool(true))),
            Shape::YesNo => m
                .try_get_one::<bool>(id)
                .map_err(|e| wrong(id, e))?
                .map(|b| Value::Bool(*b)),
            Shape::TextList => m
                .try_get_many::<String>(id)
                .map_err(|e| wrong(id, e))?
                .map(|v| Value::Array(v.map(|s| Value::String(s.clone())).collect())),
            Shape::Integer => m
                .try_get_one::<i64>(id)
                .map_err(|e| wrong(id, e))?
                .map(|i| Value::from(*i)),
            Shape::Structured | Shape::SetByNode => None,
        };
        if let Some(v) = value {
            out.insert(id.to_owned(), v);
        }
    }
    Ok(out)
}

/// The flags a command takes beside its kind's [`BodyFlags`]: those of the fields that are
/// structures (`--communication-…`, `--service-provider`, `--traced`) and the files.
pub trait Extras {
    /// Adds the structured fields these flags give to the body's `fields`.
    fn fields(&self, _fields: &mut Map<String, Value>) {}
    /// The files given with `--attach`.
    fn attach(&self) -> &[std::path::PathBuf] {
        &[]
    }
    /// `--subscriber-only-override` (emergency production only).
    fn subscriber_only_override(&self) -> bool {
        false
    }
}

/// The field flags of the kind at index `K` of [`MessageKind::ALL`] (`BodyFlags<{
/// MessageKind::Decision as usize }>`), and what they gave: the body's fields as JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BodyFlags<const K: usize> {
    /// The fields given, by their docs/requests.md names.
    pub given: Map<String, Value>,
}

impl<const K: usize> BodyFlags<K> {
    /// The kind whose fields these are.
    pub fn kind() -> MessageKind {
        MessageKind::ALL
            .get(K)
            .copied()
            .unwrap_or(MessageKind::Proceed)
    }

    /// The kind's row of the protocol's table.
    pub fn row() -> &'static table::KindFields {
        table::of(Self::kind())
    }
}

impl<const K: usize> FromArgMatches for BodyFlags<K> {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self {
            given: given(Self::row().fields, m)?,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl<const K: usize> Args for BodyFlags<K> {
    fn augment_args(cmd: Command) -> Command {
        let row = Self::row();
        cmd.next_help_heading(row.heading).args(args(row.fields))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The commands that send `kind`: `send <kind>` for a request, and the action that sends
    /// it (`send-information` sends a spontaneous information in its offer's case).
    fn commands(cli: &Command, kind: MessageKind) -> Vec<Command> {
        let mut out = Vec::new();
        if kind.is_request() {
            let send = cli
                .find_subcommand("send")
                .unwrap_or_else(|| panic!("send"));
            let sub = send.find_subcommand(long(kind.as_str()));
            out.push(sub.unwrap_or_else(|| panic!("no send {kind}")).clone());
        }
        for a in poc247_protocol::ACTIONS
            .iter()
            .filter(|a| a.kind == Some(kind))
        {
            let sub = cli.find_subcommand(a.command());
            out.push(sub.unwrap_or_else(|| panic!("no {}", a.name)).clone());
        }
        assert!(!out.is_empty(), "no command sends {kind}");
        out
    }

    /// The flags of the fields that are structures.
    fn structured(field: &str) -> &'static [&'static str] {
        match field {
            "communication" => &["communication-origin", "communication-type-of-service"],
            "communications" => &["communication-origin", "traced"],
            "service_providers" => &["service-provider"],
            "attachments" => &["attach"],
            _ => &[],
        }
    }

    /// Every field of every kind in the protocol's table has its flag on every command that
    /// sends the kind, with the table's help and value name; a structured field its own
    /// flags; a field set by the nodes none.
    #[test]
    fn every_field_of_every_kind_in_the_table_has_its_flag() {
        let cli = <crate::args::Cli as clap::CommandFactory>::command();
        for row in table::FIELDS {
            for cmd in commands(&cli, row.kind) {
                let name = cmd.get_name().to_owned();
                for f in row.fields {
                    let flag = cmd
                        .get_arguments()
                        .find(|a| a.get_long() == Some(long(f.name).as_str()));
                    match f.shape {
                        Shape::SetByNode => assert!(flag.is_none(), "{name}: {}", f.name),
                        Shape::Structured => {
                            let flags = structured(f.name);
                            assert!(!flags.is_empty(), "{name}: {} has no flags", f.name);
                            let found = cmd
                                .get_arguments()
                                .any(|a| a.get_long().is_some_and(|l| flags.contains(&l)));
                            assert!(found, "{name}: no flag of {}", f.name);
                        }
                        _ => {
                            let flag =
                                flag.unwrap_or_else(|| panic!("{name}: no flag for {}", f.name));
                            assert_eq!(flag.get_id().as_str(), f.name, "{name}");
                            let help = flag.get_help().map(ToString::to_string);
                            assert_eq!(help.as_deref(), Some(f.help), "{name}: {}", f.name);
                            if f.shape != Shape::Switch {
                                let names: Vec<&str> = flag
                                    .get_value_names()
                                    .unwrap_or_default()
                                    .iter()
                                    .map(|n| n.as_str())
                                    .collect();
                                assert_eq!(names, [f.value_name], "{name}: {}", f.name);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The flags of a command that are not its header, its files or its structured fields
    /// are exactly the single-flag fields of its kind's row, in the row's order: a field
    /// added to the table is a flag, and no flag is declared beside it.
    #[test]
    fn the_field_flags_of_a_kind_are_exactly_its_rows_single_flag_fields() {
        let cli = <crate::args::Cli as clap::CommandFactory>::command();
        let header = [
            "to",
            "urgency",
            "language",
            "language-override",
            "exercise",
            "file",
            "in-reply-to",
            "subscriber-only-override",
            "yes",
            "dry-run",
            "help",
        ];
        for row in table::FIELDS {
            let expected: Vec<String> = row
                .fields
                .iter()
                .filter(|f| f.shape.is_single_flag())
                .map(|f| long(f.name))
                .collect();
            for cmd in commands(&cli, row.kind) {
                let got: Vec<String> = cmd
                    .get_arguments()
                    .filter_map(Arg::get_long)
                    .filter(|l| !header.contains(l))
                    .filter(|l| {
                        !row.fields.iter().any(|f| {
                            !f.shape.is_single_flag()
                                && structured(f.name).iter().any(|s| {
                                    l == s
                                        || (s.starts_with("communication-")
                                            && l.starts_with("communication-"))
                                })
                        })
                    })
                    .map(str::to_owned)
                    .collect();
                assert_eq!(got, expected, "{}", cmd.get_name());
            }
        }
    }

    /// clap's own checks of the whole command line: no two flags of a command share a name
    /// or an id (a table field against a header flag), every value name and heading holds.
    #[test]
    fn the_built_command_line_passes_claps_checks() {
        <crate::args::Cli as clap::CommandFactory>::command().debug_assert();
    }

    /// A field added to a kind's row is a flag, and its value lands in the body under its
    /// name: nothing else is declared.
    #[test]
    fn a_field_of_the_table_is_a_flag_by_construction() {
        const ROW: &[Field] = &[
            Field {
                name: "new_field",
                shape: Shape::Text,
                help: "A field added to the table.",
                value_name: "TEXT",
            },
            Field {
                name: "a_switch",
                shape: Shape::Switch,
                help: "A switch.",
                value_name: "",
            },
            Field {
                name: "a_choice",
                shape: Shape::Choice(&["one_value", "other"]),
                help: "A choice.",
                value_name: "CHOICE",
            },
            Field {
                name: "a_number",
                shape: Shape::Integer,
                help: "A number.",
                value_name: "N",
            },
            Field {
                name: "a_list",
                shape: Shape::TextList,
                help: "A list.",
                value_name: "TEXT",
            },
            Field {
                name: "said",
                shape: Shape::YesNo,
                help: "Yes or no.",
                value_name: "yes|no",
            },
            Field {
                name: "a_structure",
                shape: Shape::Structured,
                help: "Not a flag.",
                value_name: "",
            },
        ];
        let cmd = Command::new("t").args(args(ROW));
        let longs: Vec<&str> = cmd.get_arguments().filter_map(Arg::get_long).collect();
        assert_eq!(
            longs,
            [
                "new-field",
                "a-switch",
                "a-choice",
                "a-number",
                "a-list",
                "said"
            ]
        );
        let m = cmd
            .clone()
            .try_get_matches_from([
                "t",
                "--new-field",
                "-x",
                "--a-choice",
                "one-value",
                "--a-number",
                "7",
                "--a-list",
                "a",
                "--a-list",
                "b",
                "--said",
                "no",
            ])
            .unwrap_or_else(|e| panic!("{e}"));
        let got = given(ROW, &m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Value::Object(got),
            json!({"new_field": "-x", "a_choice": "one_value", "a_number": 7,
                   "a_list": ["a", "b"], "said": false})
        );
        let m = cmd
            .clone()
            .try_get_matches_from(["t", "--a-switch"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Value::Object(given(ROW, &m).unwrap_or_else(|e| panic!("{e}"))),
            json!({"a_switch": true})
        );
        // Bad values are refused by name, not panicked on.
        for bad in [
            &["t", "--a-choice", "third"][..],
            &["t", "--a-number", "x"],
            &["t", "--said", "maybe"],
        ] {
            let e = cmd.clone().try_get_matches_from(bad).err();
            let msg = e.map(|e| e.to_string()).unwrap_or_default();
            assert!(msg.contains(bad[1]), "{msg}");
        }
    }
}
