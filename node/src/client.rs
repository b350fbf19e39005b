//! A client of the control API over its Unix socket, for the CLI, the demo and tests.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("no node is listening on {path}: {source}")]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The exchange broke off.
    #[error("control API: {0}")]
    Protocol(String),
}

/// A client bound to one node's control socket.
#[derive(Debug, Clone)]
pub struct ControlClient {
    socket: PathBuf,
}

/// A response: status and JSON body.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// The JSON body (`null` if empty).
    pub body: Value,
}

impl ApiResponse {
    /// The `error.message` of an error response, or the status.
    pub fn error_message(&self) -> String {
        self.body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| self.status.to_string())
    }
}

impl ControlClient {
    /// A client for the socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        ControlClient {
            socket: socket.into(),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<ApiResponse, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<ApiResponse, ClientError> {
        self.call(Method::POST, path, Some(body.to_string())).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<ApiResponse, ClientError> {
        let proto = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Unreachable {
                path: self.socket.clone(),
                source,
            })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| proto(&e))?;
        tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "poc247")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| proto(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| proto(&e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| proto(&e))?
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| proto(&e))?
        };
        Ok(ApiResponse { status, body })
    }
}
