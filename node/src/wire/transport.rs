//! The QUIC transport: frames on bidirectional streams, the connection pool (one reused
//! connection per peer, whoever opened it), and the request/reply exchange of one message.

use crate::error::NodeError;
use poc247_protocol::{wire, PartyId, Reply};
use quinn::{Connection, RecvStream, SendStream};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a peer may take to send a whole frame once it opened a stream.
pub const FRAME_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than the limit.
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Announced length.
        len: u32,
        /// Limit.
        max: u32,
    },
    /// The stream ended or failed before the frame was complete.
    #[error("stream: {0}")]
    Stream(String),
    /// The peer took too long.
    #[error("timed out reading a frame")]
    Timeout,
}

/// Reads one length-prefixed frame of at most `max` bytes.
pub async fn read_frame(recv: &mut RecvStream, max: u32) -> Result<Vec<u8>, FrameError> {
    let head = read_head(recv).await?;
    read_frame_after(recv, head, max).await
}

/// Reads the first 4 bytes of a stream: a frame's length, or an attachment stream's magic.
pub async fn read_head(recv: &mut RecvStream) -> Result<[u8; 4], FrameError> {
    let mut head = [0u8; 4];
    let read = recv.read_exact(&mut head);
    tokio::time::timeout(FRAME_READ_TIMEOUT, read)
        .await
        .map_err(|_| FrameError::Timeout)?
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    Ok(head)
}

/// Reads the rest of a frame whose 4-byte length prefix `head` was already read.
pub async fn read_frame_after(
    recv: &mut RecvStream,
    head: [u8; 4],
    max: u32,
) -> Result<Vec<u8>, FrameError> {
    read_frame_within(recv, head, max, None).await
}

/// Most bytes taken from a stream at once while a frame is read.
const READ_CHUNK: usize = 64 << 10;

/// Reads the body of a frame whose length prefix `head` was read, of at most `max` bytes.
/// Memory follows the bytes that arrived, never the length announced: a peer that sends a
/// prefix and nothing more makes the node hold nothing. With a `budget` (a peer's, see
/// [`Connections::budget`]), the announced length is first taken from it, and given back
/// when the read ends: the frames one peer has in flight hold at most that budget together;
/// its other streams wait, unread, so their data waits in the peer's QUIC window.
pub async fn read_frame_within(
    recv: &mut RecvStream,
    head: [u8; 4],
    max: u32,
    budget: Option<&Arc<tokio::sync::Semaphore>>,
) -> Result<Vec<u8>, FrameError> {
    let read = async {
        let len = u32::from_be_bytes(head);
        if len > max {
            return Err(FrameError::TooLarge { len, max });
        }
        let _held = match budget {
            Some(b) => Some(
                b.clone()
                    .acquire_many_owned(len.max(1))
                    .await
                    .map_err(|_| FrameError::Stream("the node is stopping".into()))?,
            ),
            None => None,
        };
        let len = len as usize;
        let mut buf = Vec::with_capacity(len.min(READ_CHUNK));
        while buf.len() < len {
            let want = (len - buf.len()).min(READ_CHUNK);
            match recv.read_chunk(want, true).await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
                Ok(None) => {
                    return Err(FrameError::Stream(format!(
                        "the stream ended at {} of {len} bytes",
                        buf.len()
                    )))
                }
                Err(e) => return Err(FrameError::Stream(e.to_string())),
            }
        }
        Ok(buf)
    };
    tokio::time::timeout(FRAME_READ_TIMEOUT, read)
        .await
        .map_err(|_| FrameError::Timeout)?
}

/// Writes one frame and finishes the stream.
pub async fn write_frame(send: &mut SendStream, bytes: &[u8]) -> Result<(), FrameError> {
    write_frame_open(send, bytes).await?;
    send.finish().map_err(|e| FrameError::Stream(e.to_string()))
}

/// Writes one frame and leaves the stream open (attachment streams carry more).
pub async fn write_frame_open(send: &mut SendStream, bytes: &[u8]) -> Result<(), FrameError> {
    let framed = wire::frame(bytes).map_err(|e| FrameError::Stream(e.to_string()))?;
    send.write_all(&framed)
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))
}

/// Sends one frame on a new stream and reads the peer's reply.
pub async fn exchange(
    conn: &Connection,
    frame: &[u8],
    max_reply: u32,
) -> Result<Reply, FrameError> {
    let (mut send, mut recv) = conn
        .open_bi()
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    write_frame(&mut send, frame).await?;
    let bytes = read_frame(&mut recv, max_reply).await?;
    Reply::from_bytes(&bytes).map_err(|e| FrameError::Stream(format!("reply: {e}")))
}

/// The kernel buffer asked for each way on a node's UDP socket (the kernel may cap it: Linux
/// at `net.core.rmem_max` / `wmem_max`).
pub const UDP_BUFFER: usize = 4 << 20;

/// Sizes a node's UDP socket's kernel buffers to [`UDP_BUFFER`], so that a burst of datagrams
/// that arrives while the node is busy waits there instead of being dropped (a drop costs QUIC
/// a retransmission and halves its congestion window). A refusal leaves the system's default.
pub fn size_udp_buffers(socket: &std::net::UdpSocket) {
    if let Err(e) = rustix::net::sockopt::set_socket_recv_buffer_size(socket, UDP_BUFFER) {
        tracing::debug!(error = %e, "cannot size the UDP receive buffer");
    }
    if let Err(e) = rustix::net::sockopt::set_socket_send_buffer_size(socket, UDP_BUFFER) {
        tracing::debug!(error = %e, "cannot size the UDP send buffer");
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Connection>>>;

/// The live connection to each peer. Connecting to one peer never waits for another.
#[derive(Debug, Default)]
pub struct Connections {
    slots: Mutex<HashMap<PartyId, Slot>>,
    /// Live connections a peer opened while another one to it was in its slot (both nodes
    /// connected at once): served until they close, and closed with the peer's slot.
    extras: Mutex<HashMap<PartyId, Vec<Connection>>>,
    /// Each peer's budget of bytes in frames being read ([`read_frame_within`]).
    budgets: Mutex<HashMap<PartyId, Arc<tokio::sync::Semaphore>>>,
}

impl Connections {
    /// `peer`'s budget of bytes in frames being read at once, made with `bytes` permits the
    /// first time.
    pub fn budget(&self, peer: &PartyId, bytes: u32) -> Arc<tokio::sync::Semaphore> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        budgets
            .entry(peer.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(bytes as usize)))
            .clone()
    }

    /// How many live connections `peer` has with this node (its slot and the extras).
    pub fn live(&self, peer: &PartyId) -> usize {
        let in_slot = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.get(peer).is_some_and(|s| {
                s.try_lock()
                    // A slot being filled right now counts as one.
                    .map_or(true, |g| {
                        g.as_ref().is_some_and(|c| c.close_reason().is_none())
                    })
            })
        };
        let extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
        let extra = extras.get(peer).map_or(0, |l| {
            l.iter().filter(|c| c.close_reason().is_none()).count()
        });
        usize::from(in_slot) + extra
    }

    fn slot(&self, peer: &PartyId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(peer.clone()).or_default().clone()
    }

    /// The live connection to `peer`, or a new one made by `connect`.
    pub async fn get_or_connect<F, Fut>(
        &self,
        peer: &PartyId,
        connect: F,
    ) -> Result<Connection, NodeError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Connection, NodeError>>,
    {
        let slot = self.slot(peer);
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref() {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
        }
        // A connection the peer opened meanwhile serves as well as a new one.
        if let Some(c) = self.take_extra(peer) {
            *guard = Some(c.clone());
            return Ok(c);
        }
        let c = connect().await?;
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Records a connection the peer opened: in the peer's slot if that is free, else beside
    /// it. Never waits: while this node is dialling the peer (its slot held, perhaps for a
    /// handshake with an address that does not answer), the peer's own connection is served
    /// at once, and taken into the slot by the next [`Connections::get_or_connect`].
    pub async fn offer(&self, peer: &PartyId, conn: &Connection) {
        let slot = self.slot(peer);
        if let Ok(mut guard) = slot.try_lock() {
            if guard.as_ref().is_none_or(|c| c.close_reason().is_some()) {
                *guard = Some(conn.clone());
                return;
            }
            if guard
                .as_ref()
                .is_some_and(|c| c.stable_id() == conn.stable_id())
            {
                return;
            }
        }
        let mut extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
        let list = extras.entry(peer.clone()).or_default();
        list.retain(|c| c.close_reason().is_none());
        list.push(conn.clone());
    }

    /// A live connection the peer opened beside its slot, taken out of the extras.
    fn take_extra(&self, peer: &PartyId) -> Option<Connection> {
        let mut extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
        let list = extras.get_mut(peer)?;
        list.retain(|c| c.close_reason().is_none());
        list.pop()
    }

    /// Closes and forgets every connection with `peer` (it left the directory, or its
    /// certificate pin changed); returns how many were open. A connection being made to it
    /// right now is waited for at most `wait`; the directory no longer admits it anyway.
    pub async fn close_peer(&self, peer: &PartyId, reason: &[u8], wait: Duration) -> usize {
        // The slot stays: a connection being made now lands in it, where it is seen.
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.get(peer).cloned()
        };
        let extras = {
            let mut extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
            extras.remove(peer).unwrap_or_default()
        };
        let mut closed = 0;
        if let Some(slot) = slot {
            if let Ok(mut guard) = tokio::time::timeout(wait, slot.lock()).await {
                if let Some(c) = guard.take() {
                    if c.close_reason().is_none() {
                        closed += 1;
                    }
                    c.close(0u32.into(), reason);
                }
            }
        }
        for c in extras {
            if c.close_reason().is_none() {
                closed += 1;
            }
            c.close(0u32.into(), reason);
        }
        closed
    }

    /// Closes every live connection with `peer` for which `judge` gives a reason (its
    /// certificate's key is no longer pinned), with that reason; returns how many it closed.
    /// The others stay.
    pub async fn close_where(
        &self,
        peer: &PartyId,
        judge: impl Fn(&Connection) -> Option<String>,
        wait: Duration,
    ) -> usize {
        let mut closed = 0;
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.get(peer).cloned()
        };
        if let Some(slot) = slot {
            // A connection being made right now is waited for at most `wait`; past that, it
            // is left to the next look (`peers::PIN_CHECK_EVERY`).
            if let Ok(mut guard) = tokio::time::timeout(wait, slot.lock()).await {
                let why = guard
                    .as_ref()
                    .filter(|c| c.close_reason().is_none())
                    .and_then(&judge);
                // Only a connection judged is taken out of its slot: one left there unclosed
                // would go on living unseen, and the next dial would add another beside it.
                if let Some(why) = why {
                    if let Some(c) = guard.take() {
                        c.close(0u32.into(), why.as_bytes());
                        closed += 1;
                    }
                }
            }
        }
        let mut extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = extras.get_mut(peer) {
            list.retain(|c| {
                if c.close_reason().is_some() {
                    return false;
                }
                match judge(c) {
                    None => true,
                    Some(why) => {
                        c.close(0u32.into(), why.as_bytes());
                        closed += 1;
                        false
                    }
                }
            });
        }
        closed
    }

    /// Closes and forgets the connection to `peer` (it stopped answering): the next attempt
    /// makes a fresh handshake instead of waiting out the old connection's backoff.
    pub fn reset(&self, peer: &PartyId) {
        let slot = self.slot(peer);
        let taken = slot.try_lock().ok().and_then(|mut g| g.take());
        if let Some(c) = taken {
            c.close(0u32.into(), b"unresponsive");
        }
    }

    /// Closes and forgets every connection.
    pub fn close_all(&self) {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for slot in slots.values() {
            if let Ok(g) = slot.try_lock() {
                if let Some(c) = g.as_ref() {
                    c.close(0u32.into(), b"shutdown");
                }
            }
        }
        let extras = self.extras.lock().unwrap_or_else(|p| p.into_inner());
        for c in extras.values().flatten() {
            c.close(0u32.into(), b"shutdown");
        }
    }

    /// Peers with a live connection.
    pub fn connected(&self) -> Vec<PartyId> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .iter()
            .filter(|(_, s)| {
                s.try_lock()
                    .map(|g| g.as_ref().is_some_and(|c| c.close_reason().is_none()))
                    .unwrap_or(false)
            })
            .map(|(p, _)| p.clone())
            .collect()
    }
}
