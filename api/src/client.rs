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

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Idle connections kept for reuse (HTTP/1.1 keep-alive), at most this many.
const IDLE_MAX: usize = 256;
/// How long a connection to the node may take, and then a call's answer to begin: past
/// that the node is taken as not answering ([`ClientError::Unreachable`], the CLI's exit 3).
pub const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A client bound to one node's control socket. Clones share a pool of idle connections, so
/// a script or the benchmark making many calls opens a connection per concurrent call, not
/// per call.
#[derive(Debug, Clone)]
pub struct ControlClient {
    socket: PathBuf,
    idle: std::sync::Arc<std::sync::Mutex<Vec<Sender>>>,
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
        crate::read::<crate::ErrorBody>(&self.body)
            .ok()
            .map(|e| e.error.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.status.to_string())
    }
}

impl ControlClient {
    /// A client for the socket at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        ControlClient {
            socket: socket.into(),
            idle: Default::default(),
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Opens an HTTP/1.1 connection on the socket, for requests with bodies of type `B`.
    async fn connect<B>(&self) -> Result<hyper::client::conn::http1::SendRequest<B>, ClientError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = tokio::time::timeout(
            ANSWER_TIMEOUT,
            tokio::net::UnixStream::connect(&self.socket),
        )
        .await
        .map_err(|_| self.silent())?
        .map_err(|source| ClientError::Unreachable {
            path: self.socket.clone(),
            source,
        })?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// The node took more than [`ANSWER_TIMEOUT`] to answer.
    fn silent(&self) -> ClientError {
        ClientError::Unreachable {
            path: self.socket.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "the node did not answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                ),
            ),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<ApiResponse, ClientError> {
        self.call(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<ApiResponse, ClientError> {
        self.call(Method::POST, path, Some(body.to_string())).await
    }

    /// An idle connection that is still open, if any.
    fn reuse(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(s) = idle.pop() {
            if s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    /// Idle connections held for reuse.
    pub fn idle_connections(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    fn keep(&self, sender: Sender) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_MAX && sender.is_ready() {
            idle.push(sender);
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<ApiResponse, ClientError> {
        let proto = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "poc247")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| proto(&e))?;
        // A kept connection the node closed meanwhile (it restarted) gives the request back
        // unsent: only then is it sent again, on a new connection, so nothing is sent twice.
        let exchange = async {
            loop {
                let Some(mut sender) = self.reuse() else {
                    let mut sender = self.connect().await?;
                    let resp = sender.send_request(req).await.map_err(|e| proto(&e))?;
                    return Ok((sender, resp));
                };
                match sender.try_send_request(req).await {
                    Ok(resp) => return Ok((sender, resp)),
                    Err(mut e) => match e.take_message() {
                        Some(unsent) => req = unsent,
                        None => return Err(proto(e.error())),
                    },
                }
            }
        };
        let (mut sender, resp) = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
            .await
            .map_err(|_| self.silent())??;
        let status = resp.status();
        let bytes = body_bytes(resp.into_body()).await?;
        if sender.ready().await.is_ok() {
            self.keep(sender);
        }
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| proto(&e))?
        };
        let r = ApiResponse { status, body };
        // The node serves as many connections as it can already: it cannot answer now.
        let code = crate::read::<crate::ErrorBody>(&r.body).map(|e| e.error.code);
        if status == StatusCode::SERVICE_UNAVAILABLE && code.as_deref() == Ok("busy") {
            return Err(ClientError::Unreachable {
                path: self.socket.clone(),
                source: std::io::Error::other(r.error_message()),
            });
        }
        Ok(r)
    }
}

/// A live stream of server-sent events from `GET /v1/events`.
pub struct EventStream {
    body: hyper::body::Incoming,
    buf: Vec<u8>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event's JSON (`data:` of one SSE event); `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<Value, ClientError>> {
        loop {
            if let Some(end) = find(&self.buf, b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&block);
                let data: String = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect::<Vec<_>>()
                    .join("\n");
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(
                    serde_json::from_str(&data).map_err(|e| ClientError::Protocol(e.to_string())),
                );
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Err(e) => return Some(Err(ClientError::Protocol(e.to_string()))),
            }
        }
    }
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The whole body of a response.
async fn body_bytes(body: hyper::body::Incoming) -> Result<Bytes, ClientError> {
    Ok(body
        .collect()
        .await
        .map_err(|e| ClientError::Protocol(e.to_string()))?
        .to_bytes())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl ControlClient {
    /// Opens the event stream (`GET /v1/events`): live events from now on.
    pub async fn events(&self) -> Result<EventStream, ClientError> {
        self.open_events(None).await
    }

    /// Opens the event stream resuming after event `n` (`Last-Event-ID: n`): the stored events
    /// after `n` come first, then the live ones.
    pub async fn events_after(&self, n: u64) -> Result<EventStream, ClientError> {
        self.open_events(Some(n)).await
    }

    async fn open_events(&self, after: Option<u64>) -> Result<EventStream, ClientError> {
        let proto = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let mut sender = self.connect().await?;
        let mut req = Request::builder()
            .method(Method::GET)
            .uri("/v1/events")
            .header("host", "poc247")
            .header("accept", "text/event-stream");
        if let Some(n) = after {
            req = req.header("last-event-id", n.to_string());
        }
        let req = req.body(Full::new(Bytes::new())).map_err(|e| proto(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| proto(&e))?;
        if resp.status() != StatusCode::OK {
            return Err(ClientError::Protocol(format!("events: {}", resp.status())));
        }
        Ok(EventStream {
            body: resp.into_body(),
            buf: Vec::new(),
        })
    }

    /// `GET path` of a file (an attachment), streamed into `out` while it is hashed: its
    /// SHA-256 and size, or the API's error response (nothing is written then).
    pub async fn download(
        &self,
        path: &str,
        out: &Path,
    ) -> Result<Result<([u8; 32], u64), ApiResponse>, ClientError> {
        self.download_with(path, out, &mut |_, _| {}).await
    }

    /// [`ControlClient::download`], telling `progress` the bytes written so far and the total
    /// the node announced (`Content-Length`) after each piece.
    pub async fn download_with(
        &self,
        path: &str,
        out: &Path,
        progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
    ) -> Result<Result<([u8; 32], u64), ApiResponse>, ClientError> {
        use sha2::Digest;
        use tokio::io::AsyncWriteExt;
        let proto = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let mut sender = self.connect().await?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "poc247")
            .body(Full::new(Bytes::new()))
            .map_err(|e| proto(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| proto(&e))?;
        let status = resp.status();
        let total = resp
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = resp.into_body();
        if status != StatusCode::OK {
            let bytes = body_bytes(body).await?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Ok(Err(ApiResponse { status, body }));
        }
        let mut file = tokio::fs::File::create(out)
            .await
            .map_err(|e| proto(&format!("{}: {e}", out.display())))?;
        let mut hasher = sha2::Sha256::new();
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| proto(&e))?;
            if let Ok(data) = frame.into_data() {
                hasher.update(&data);
                size += data.len() as u64;
                file.write_all(&data)
                    .await
                    .map_err(|e| proto(&format!("{}: {e}", out.display())))?;
                progress(size, total);
            }
        }
        file.sync_all()
            .await
            .map_err(|e| proto(&format!("{}: {e}", out.display())))?;
        Ok(Ok((hasher.finalize().into(), size)))
    }

    /// `POST /v1/uploads?name=…` with the bytes of `file` (streamed, with its
    /// `Content-Length`), telling `progress` the bytes sent so far after each piece.
    pub async fn upload(
        &self,
        file: &Path,
        name: &str,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ApiResponse, ClientError> {
        use tokio::io::AsyncReadExt;
        type Piece = Result<hyper::body::Frame<Bytes>, std::io::Error>;
        let proto = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let local = |e: std::io::Error| ClientError::Protocol(format!("{}: {e}", file.display()));
        let mut src = tokio::fs::File::open(file).await.map_err(local)?;
        let len = src.metadata().await.map_err(local)?.len();
        type Upload = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;
        let mut sender = self.connect::<Upload>().await?;
        // The file is read here and handed to the connection a piece at a time (at most four
        // waiting), so memory stays bounded whatever its size.
        let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(4);
        let uri = format!("/v1/uploads?name={}", percent_encode(name));
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header("host", "poc247")
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .body(
                http_body_util::StreamBody::new(futures_util::stream::unfold(
                    rx,
                    |mut rx| async move { rx.recv().await.map(|piece| (piece, rx)) },
                ))
                .boxed_unsync(),
            )
            .map_err(|e| proto(&e))?;
        let call = async {
            // A node that refuses the upload on its head answers at once and closes the
            // connection; a client still writing the body may see only the close.
            let resp = sender.send_request(req).await.map_err(|e| {
                ClientError::Protocol(format!(
                    "the upload of {} broke off: {e} (the node's limits are in its status)",
                    file.display()
                ))
            })?;
            let status = resp.status();
            let bytes = body_bytes(resp.into_body()).await?;
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            Ok::<_, ClientError>(ApiResponse { status, body })
        };
        let feed = async {
            let mut sent = 0u64;
            loop {
                let mut buf = bytes::BytesMut::with_capacity(256 << 10);
                match src.read_buf(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => {
                        sent += n as u64;
                        if tx
                            .send(Ok(hyper::body::Frame::data(buf.freeze())))
                            .await
                            .is_err()
                        {
                            break; // the node answered before taking it all
                        }
                        progress(sent);
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                }
            }
            drop(tx);
        };
        let (resp, ()) = tokio::join!(call, feed);
        resp
    }

    /// `GET path` for a body that is not JSON (`/v1/stats?format=csv`): status, content type
    /// and text.
    pub async fn get_text(&self, path: &str) -> Result<TextResponse, ClientError> {
        let proto = |e: &dyn std::fmt::Display| ClientError::Protocol(e.to_string());
        let mut sender = self.connect().await?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header("host", "poc247")
            .body(Full::new(Bytes::new()))
            .map_err(|e| proto(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| proto(&e))?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = body_bytes(resp.into_body()).await?;
        Ok(TextResponse {
            status,
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        })
    }
}

/// A response read as text.
#[derive(Debug, Clone)]
pub struct TextResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// Its `Content-Type`.
    pub content_type: String,
    /// The body.
    pub text: String,
}
