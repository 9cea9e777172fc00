//! A TCP proxy on 127.0.0.1 that a test controls, to cut the link between
//! two processes the way a network fails: it forwards, or holds every
//! byte without an answer (a black hole: the caller's timeouts must see
//! it), or closes every connection at once (a refusing firewall), or
//! delays what it forwards. A cut also ends the forwarding of the
//! connections already open: what they send next goes nowhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FORWARD: u8 = 0;
const BLACK_HOLE: u8 = 1;
const REFUSE: u8 = 2;

pub struct TcpProxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    /// Counts the cuts: a connection forwards only within its generation.
    generation: Arc<AtomicU64>,
    delay_ms: Arc<AtomicU64>,
    /// Bytes forwarded both ways.
    bytes: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

impl TcpProxy {
    /// A proxy to 127.0.0.1:`target` (which need not listen yet).
    pub fn start(target: u16) -> TcpProxy {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(AtomicU8::new(FORWARD));
        let generation = Arc::new(AtomicU64::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (m, g, d, b) = (mode.clone(), generation.clone(), delay_ms.clone(), bytes.clone());
        rt.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                let (m, g, d, b) = (m.clone(), g.clone(), d.clone(), b.clone());
                tokio::spawn(async move { serve(client, target, m, g, d, b).await });
            }
        });
        TcpProxy { port, mode, generation, delay_ms, bytes, _rt: rt }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops forwarding: connections are taken and held, nothing answers.
    pub fn cut(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.mode.store(BLACK_HOLE, Ordering::SeqCst);
    }

    /// Closes every connection, new ones at once.
    pub fn refuse(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.mode.store(REFUSE, Ordering::SeqCst);
    }

    /// Forwards again (new connections; the cut ones stay dead).
    pub fn heal(&self) {
        self.mode.store(FORWARD, Ordering::SeqCst);
    }

    /// Delays every chunk forwarded by `d`.
    pub fn delay(&self, d: Duration) {
        self.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Bytes forwarded so far, both ways.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut client: tokio::net::TcpStream,
    target: u16,
    mode: Arc<AtomicU8>,
    generation: Arc<AtomicU64>,
    delay_ms: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
) {
    let born = generation.load(Ordering::SeqCst);
    match mode.load(Ordering::SeqCst) {
        REFUSE => return,
        BLACK_HOLE => return hold(client).await,
        _ => {}
    }
    let Ok(upstream) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else { return };
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.into_split();
    let live = || mode.load(Ordering::SeqCst) == FORWARD && generation.load(Ordering::SeqCst) == born;
    let up = copy(&mut cr, &mut uw, &live, &delay_ms, &bytes);
    let down = copy(&mut ur, &mut cw, &live, &delay_ms, &bytes);
    let cut = tokio::select! {
        c = up => c,
        c = down => c,
    };
    if cut && mode.load(Ordering::SeqCst) == BLACK_HOLE {
        hold(client).await;
    }
}

/// Copies `from` to `to` while the link is `live`: false when either side
/// closed, true when the link was cut.
async fn copy(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    live: &impl Fn() -> bool,
    delay_ms: &AtomicU64,
    bytes: &AtomicU64,
) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if !live() {
            return true;
        }
        pause(delay_ms).await;
        bytes.fetch_add(n as u64, Ordering::SeqCst);
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
    }
}

async fn pause(delay_ms: &AtomicU64) {
    let d = delay_ms.load(Ordering::SeqCst);
    if d > 0 {
        tokio::time::sleep(Duration::from_millis(d)).await;
    }
}

/// Reads and drops whatever the client sends, until it gives up.
async fn hold(mut client: tokio::net::TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}
