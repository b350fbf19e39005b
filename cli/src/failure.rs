//! Why a command failed, and the documented exit code of each reason (docs/design.md "CLI"):
//! 1 refused, 2 usage, 3 node not reachable, 4 internal.

use poc247_api::client::ClientError;
use poc247_api::{ErrorBody, ErrorDetail};
use poc247_protocol::FieldError;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

/// A failure with its exit code. Commands return it inside `anyhow::Error`; `main` finds it
/// there, and treats any other error as internal.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: the node or the local checks refused what was asked.
    Refused {
        /// For people, on stderr.
        message: String,
        /// For `--json`: the API's error body, or one made the same way.
        body: Value,
    },
    /// Exit 5: the node's checks gave warnings nobody confirmed; nothing was sent or stored.
    Unconfirmed {
        /// For people.
        message: String,
        /// For `--json`: the API's error body (`warnings` listed).
        body: Value,
    },
    /// Exit 2: the command line itself is wrong.
    Usage(clap::Error),
    /// Exit 3: nothing answers on the control socket.
    Unreachable {
        /// The socket.
        socket: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Exit 4: the node failed, or something unexpected happened.
    Internal {
        /// For people.
        message: String,
        /// For `--json`.
        body: Value,
    },
}

/// The command-line flags of the fields at fault, for a person who typed flags
/// (`emergency_facts` is `--emergency-facts`); empty when there are none.
pub fn flags_hint(fields: &[FieldError]) -> String {
    let mut flags: Vec<String> = Vec::new();
    for f in fields {
        let base = f.field.split(['[', '.']).next().unwrap_or_default();
        let flag = match base {
            "" => continue,
            "attachments" => "--attach".to_owned(),
            "service_providers" => "--service-provider".to_owned(),
            "communication" => "--communication-…".to_owned(),
            "communications" => "--traced or --communication-…".to_owned(),
            other => format!("--{}", other.replace('_', "-")),
        };
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    if flags.is_empty() {
        String::new()
    } else {
        format!("\n  (flags: {})", flags.join(", "))
    }
}

/// The error document of the control API: `{ "error": { "code", "message", "fields" } }`.
pub fn error_body(code: &str, message: &str, fields: &[FieldError]) -> Value {
    serde_json::to_value(ErrorBody::new(code, message, fields.to_vec(), Vec::new()))
        .unwrap_or_default()
}

/// The API's error in a body, if it is one.
pub fn api_error(body: &Value) -> Option<ErrorDetail> {
    poc247_api::read::<ErrorBody>(body).ok().map(|b| b.error)
}

impl Failure {
    /// A refusal made here, with the API's error shape.
    pub fn refused(code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Failure::Refused {
            body: error_body(code, &message, &[]),
            message,
        }
    }

    /// A request whose fields the local checks refused: every field named at once.
    pub fn invalid_fields(fields: &[FieldError]) -> Self {
        Self::invalid_fields_of("request", fields)
    }

    /// A message (`what`: "request", "acknowledgement" …) whose fields the local checks
    /// refused: every field named at once.
    pub fn invalid_fields_of(what: &str, fields: &[FieldError]) -> Self {
        let list = fields
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Failure::Refused {
            message: format!("{what} refused: {list}{}", flags_hint(fields)),
            body: error_body("invalid-fields", &format!("invalid {what}: {list}"), fields),
        }
    }

    /// An internal failure made here.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Failure::Internal {
            body: error_body("internal", &message, &[]),
            message,
        }
    }

    /// The documented exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Refused { .. } => 1,
            Failure::Usage(_) => 2,
            Failure::Unreachable { .. } => 3,
            Failure::Internal { .. } => 4,
            Failure::Unconfirmed { .. } => 5,
        })
    }

    /// The JSON document printed on stdout with `--json`, if any.
    pub fn json(&self) -> Option<Value> {
        match self {
            Failure::Refused { body, .. }
            | Failure::Internal { body, .. }
            | Failure::Unconfirmed { body, .. } => Some(body.clone()),
            Failure::Usage(_) => None,
            Failure::Unreachable { .. } => Some(error_body("unreachable", &self.to_string(), &[])),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Refused { message, .. }
            | Failure::Internal { message, .. }
            | Failure::Unconfirmed { message, .. } => f.write_str(message),
            Failure::Usage(e) => write!(f, "{e}"),
            Failure::Unreachable { socket, source }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                write!(
                    f,
                    "cannot connect to {}: permission denied (the control socket is mode 0660: \
                     run as the node's user or a member of its group)",
                    socket.display()
                )
            }
            Failure::Unreachable { socket, source }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                write!(
                    f,
                    "no node is listening on {} (is `poc247 run` started?)",
                    socket.display()
                )
            }
            Failure::Unreachable { socket, source } => {
                write!(f, "cannot connect to {}: {source}", socket.display())
            }
        }
    }
}

impl std::error::Error for Failure {}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Unreachable { path, source } => Failure::Unreachable {
                socket: path,
                source,
            },
            ClientError::Protocol(m) => Failure::internal(format!("control API: {m}")),
        }
    }
}

/// The failure inside any error: a [`Failure`] as it is, a client error mapped, anything else
/// internal.
pub fn classify(e: anyhow::Error) -> Failure {
    let e = match e.downcast::<Failure>() {
        Ok(f) => return f,
        Err(e) => e,
    };
    match e.downcast::<ClientError>() {
        Ok(c) => Failure::from(c),
        Err(e) => Failure::internal(format!("{e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poc247_protocol::Problem;

    #[test]
    fn every_reason_has_its_documented_exit_code() {
        let code = |f: Failure| format!("{:?}", f.exit_code());
        assert_eq!(
            code(Failure::refused("x", "y")),
            format!("{:?}", ExitCode::from(1))
        );
        assert_eq!(
            code(Failure::internal("y")),
            format!("{:?}", ExitCode::from(4))
        );
        let unreachable = Failure::Unreachable {
            socket: "/nowhere.sock".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(unreachable
            .to_string()
            .contains("no node is listening on /nowhere.sock"));
        assert_eq!(code(unreachable), format!("{:?}", ExitCode::from(3)));
    }

    #[test]
    fn invalid_fields_names_every_field() {
        let f = Failure::invalid_fields(&[
            FieldError {
                field: "offence".into(),
                problem: Problem::Missing,
            },
            FieldError {
                field: "mla_intent".into(),
                problem: Problem::MustBeTrue,
            },
        ]);
        assert_eq!(
            f.to_string(),
            "request refused: offence: missing; mla_intent: must be true\n  \
             (flags: --offence, --mla-intent)"
        );
        let body = f.json().unwrap_or_default();
        assert_eq!(body["error"]["fields"][1]["field"], "mla_intent");
    }

    #[test]
    fn other_errors_are_internal() {
        let f = classify(anyhow::anyhow!("boom"));
        assert!(matches!(f, Failure::Internal { .. }));
        let f = classify(anyhow::Error::new(Failure::refused("c", "m")));
        assert!(matches!(f, Failure::Refused { .. }));
    }
}
