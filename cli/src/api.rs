//! Calls to the node's control API, with the answers that are not a success turned into
//! [`Failure`]s: 404, 409, 410 and 422 are refusals (exit 1), anything else internal (exit 4).

use crate::failure::{api_error, error_body, Failure};
use poc247_api::client::{ApiResponse, ControlClient};
use poc247_protocol::FieldError;
use serde_json::Value;
use std::path::Path;

/// A client for one node's control socket.
#[derive(Debug, Clone)]
pub struct Api {
    client: ControlClient,
}

impl Api {
    /// The API on `socket`.
    pub fn new(socket: &Path) -> Self {
        Api {
            client: ControlClient::new(socket),
        }
    }

    /// `GET path`: the body of a success, or the failure.
    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        let r = self.client.get(path).await?;
        into_result(r)
    }

    /// `POST path`: the body of a success, or the failure.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let r = self.client.post(path, body).await?;
        into_result(r)
    }
}

impl Api {
    /// `POST /v1/uploads` with the bytes of `file`, listed as `name`; `progress` is told the
    /// bytes sent so far. The node's answer (`{ upload, size, name, keep_until }`), or the
    /// failure.
    pub async fn upload(
        &self,
        file: &Path,
        name: &str,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<Value, Failure> {
        let r = self.client.upload(file, name, progress).await?;
        into_result(r)
    }
}

/// What went wrong, in words: the fields named by the API if any, else its message.
pub fn describe(r: &ApiResponse) -> String {
    let fields: Vec<FieldError> = api_error(&r.body).map(|e| e.fields).unwrap_or_default();
    if fields.is_empty() {
        r.error_message()
    } else {
        fields
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn into_result(r: ApiResponse) -> Result<Value, Failure> {
    let status = r.status.as_u16();
    if r.status.is_success() {
        return Ok(r.body);
    }
    let error = api_error(&r.body);
    let body = if error.is_some() {
        r.body.clone()
    } else {
        error_body("http", &r.status.to_string(), &[])
    };
    let code = error.as_ref().map(|e| e.code.as_str()).unwrap_or_default();
    match status {
        404 | 409 | 410 | 422 => Err(Failure::Refused {
            message: if status == 422 {
                let fields = error.as_ref().map(|e| &e.fields[..]).unwrap_or_default();
                format!(
                    "request refused: {}{}",
                    describe(&r),
                    crate::failure::flags_hint(fields)
                )
            } else {
                describe(&r)
            },
            body,
        }),
        _ => Err(Failure::Internal {
            message: if code.is_empty() {
                format!("the node answered {}", r.status)
            } else {
                format!("the node answered {} {code}: {}", r.status, describe(&r))
            },
            body,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;
    use serde_json::json;

    fn response(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            body,
        }
    }

    #[test]
    fn a_422_names_the_fields_and_is_a_refusal() {
        let r = response(
            422,
            json!({"error": {"code": "invalid-fields", "message": "invalid request: …",
                "fields": [{"field": "to", "problem": {"invalid": "XX is not in the directory"}}]}}),
        );
        let f = into_result(r).err();
        let Some(Failure::Refused { message, .. }) = f else {
            panic!("not a refusal: {f:?}");
        };
        assert_eq!(
            message,
            "request refused: to: XX is not in the directory\n  (flags: --to)"
        );
    }

    #[test]
    fn a_5xx_or_an_odd_body_is_internal() {
        let f = into_result(response(507, json!({"error": {"message": "disk"}}))).err();
        assert!(matches!(f, Some(Failure::Internal { .. })), "{f:?}");
        let f = into_result(response(500, Value::Null)).err();
        assert!(matches!(f, Some(Failure::Internal { .. })), "{f:?}");
        assert!(into_result(response(200, json!({"ok": true}))).is_ok());
    }
}
