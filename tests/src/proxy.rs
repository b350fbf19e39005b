//! A UDP fault proxy for one client: packets from the client go to the upstream node, replies
//! come back; each direction may be delayed, dropped with a probability (seeded), or
//! blackholed entirely.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Faults to apply, changeable while the proxy runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Drop probability in parts per million.
    loss_ppm: AtomicU32,
    /// Drop everything.
    blackhole: AtomicBool,
    /// Added one-way delay, microseconds.
    delay_us: AtomicU64,
    /// Packets dropped so far.
    pub dropped: AtomicU64,
    /// Packets forwarded so far.
    pub forwarded: AtomicU64,
}

impl Faults {
    /// Sets the loss rate in percent.
    pub fn set_loss_percent(&self, p: f64) {
        self.loss_ppm
            .store((p.clamp(0.0, 100.0) * 10_000.0) as u32, Ordering::SeqCst);
    }
    /// Turns the blackhole on or off.
    pub fn set_blackhole(&self, on: bool) {
        self.blackhole.store(on, Ordering::SeqCst);
    }
    /// Sets the added one-way delay.
    pub fn set_delay(&self, d: Duration) {
        self.delay_us.store(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    /// The address clients send to.
    pub addr: SocketAddr,
    /// Its faults.
    pub faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Rng(u64);
impl Rng {
    fn next_ppm(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 1_000_000) as u32
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`; `seed` fixes which packets drop.
    pub async fn start(upstream: SocketAddr, seed: u64) -> anyhow::Result<FaultProxy> {
        FaultProxy::start_with(upstream, seed, Arc::new(Faults::default())).await
    }

    /// Starts a proxy as [`FaultProxy::start`] does, applying `faults` (shared with another
    /// proxy: the two directions of one path between two nodes).
    pub async fn start_with(
        upstream: SocketAddr,
        seed: u64,
        faults: Arc<Faults>,
    ) -> anyhow::Result<FaultProxy> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        back.connect(upstream).await?;
        let addr = front.local_addr()?;
        let f = faults.clone();
        let task = tokio::spawn(async move {
            let mut rng = Rng(seed | 1);
            let mut client: Option<SocketAddr> = None;
            let mut a = vec![0u8; 65536];
            let mut b = vec![0u8; 65536];
            loop {
                let (data, to_upstream) = tokio::select! {
                    r = front.recv_from(&mut a) => match r {
                        Ok((n, from)) => { client = Some(from); (a[..n].to_vec(), true) }
                        Err(_) => continue,
                    },
                    r = back.recv(&mut b) => match r {
                        Ok(n) => (b[..n].to_vec(), false),
                        Err(_) => continue,
                    },
                };
                let loss = f.loss_ppm.load(Ordering::SeqCst);
                if f.blackhole.load(Ordering::SeqCst) || rng.next_ppm() < loss {
                    f.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                f.forwarded.fetch_add(1, Ordering::Relaxed);
                let delay = Duration::from_micros(f.delay_us.load(Ordering::SeqCst));
                let (front, back) = (front.clone(), back.clone());
                let dest = client;
                let send = async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if to_upstream {
                        let _ = back.send(&data).await;
                    } else if let Some(c) = dest {
                        let _ = front.send_to(&data, c).await;
                    }
                };
                if delay.is_zero() {
                    send.await;
                } else {
                    tokio::spawn(send);
                }
            }
        });
        Ok(FaultProxy { addr, faults, task })
    }
}
