//! The HTTP/1.1 and HTTP/2 connection loop behind `rivo-server serve` (issue 15, finding 10),
//! in place of `poem::Server`, which has no header-read timeout, ignores accept errors in a
//! busy loop and waits for every half-open connection at shutdown:
//!
//! - a connection must deliver a complete request head within `header_read_timeout` of
//!   connecting or of its previous response (this also closes idle keep-alive connections);
//! - at most `max_connections` connections are served at once; one more gets a quick `503`
//!   JSON answer and is closed, so a flood of half-open connections cannot starve the process
//!   of descriptors;
//! - accept errors (e.g. out of descriptors) are logged and retried with a growing pause
//!   instead of spinning;
//! - on shutdown, connections without a request in progress are closed at once, and requests in
//!   progress get up to `shutdown_timeout` to finish.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, EndpointExt, Response};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore};

/// Limits of [`serve_http`].
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Longest wait for a complete request head (also the keep-alive idle limit).
    pub header_read_timeout: Duration,
    /// Most connections served at once.
    pub max_connections: usize,
    /// How long requests in progress may take to finish after the shutdown signal.
    pub shutdown_timeout: Duration,
}

/// Raises the soft limit of open files to the hard limit (Linux's default soft limit, 1024, is
/// far below what a server with thousands of keep-alive clients needs). Returns the new limit.
pub fn raise_fd_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(err) => {
            tracing::warn!(%err, "cannot raise the open-files limit");
            None
        }
    }
}

/// The requests of one connection still being answered (their response bodies included).
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

struct InFlightGuard(Arc<InFlight>);

impl InFlightGuard {
    fn new(in_flight: &Arc<InFlight>) -> Self {
        in_flight.count.fetch_add(1, Ordering::SeqCst);
        Self(in_flight.clone())
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A response body that counts as "in flight" until hyper has sent (and dropped) it.
struct GuardedBody<B> {
    inner: B,
    _guard: InFlightGuard,
}

impl<B: http_body::Body + Unpin> http_body::Body for GuardedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 1\r\nconnection: close\r\ncontent-length: 64\r\n\r\n\
{\"detail\":\"Service temporarily unavailable, try again later.\"}  ";

/// Serves `ep` on `listener` until `signal` resolves, then shuts down as described in the
/// module documentation.
pub async fn serve_http<E>(
    listener: tokio::net::TcpListener,
    ep: E,
    limits: HttpLimits,
    signal: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    E: Endpoint + 'static,
{
    let ep: Arc<poem::endpoint::BoxEndpoint<'static, Response>> =
        Arc::new(ep.map_to_response().boxed());
    let local = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let shutdown = tokio_util_like::Shutdown::default();
    let mut backoff = Duration::from_millis(5);
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => accepted,
        };
        let (mut stream, peer) = match accepted {
            Ok(ok) => {
                backoff = Duration::from_millis(5);
                ok
            }
            Err(err) => {
                // EMFILE/ENFILE/ENOBUFS and the like: pause instead of spinning.
                tracing::warn!(%err, pause_ms = backoff.as_millis() as u64, "accept failed");
                tokio::select! {
                    () = &mut signal => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.max_connections, "connection limit reached, refusing");
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let _ = stream.set_nodelay(true);
        let ep = ep.clone();
        let mut stop = shutdown.subscribe();
        tokio::spawn(async move {
            let _permit = permit;
            let in_flight = Arc::new(InFlight::default());
            let service = hyper::service::service_fn({
                let in_flight = in_flight.clone();
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let guard = InFlightGuard::new(&in_flight);
                    let ep = ep.clone();
                    async move {
                        let req: poem::Request = (
                            req,
                            LocalAddr(poem::Addr::SocketAddr(local)),
                            RemoteAddr(poem::Addr::SocketAddr(peer)),
                            Scheme::HTTP,
                        )
                            .into();
                        let resp: hyper::Response<_> = ep.get_response(req).await.into();
                        Ok::<_, Infallible>(resp.map(|inner| GuardedBody {
                            inner,
                            _guard: guard,
                        }))
                    }
                }
            });
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            builder
                .http2()
                .timer(hyper_util::rt::TokioTimer::new())
                .keep_alive_interval(Some(limits.header_read_timeout));
            let conn = builder
                .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = stop.wait() => {}
            }
            // Shutting down: no new request on this connection; let a request in progress
            // finish (up to the shutdown timeout), close an idle or half-open one now.
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                () = wait_idle(&in_flight) => {}
                () = tokio::time::sleep(limits.shutdown_timeout) => {
                    tracing::warn!(%peer, "request still running at the shutdown timeout, dropped");
                }
            }
        });
    }
    drop(listener);
    shutdown.trigger();
    // Wait for every connection task to end (each ends by the shutdown timeout at the latest).
    let all = u32::try_from(limits.max_connections.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(
        limits.shutdown_timeout + Duration::from_secs(1),
        permits.acquire_many(all),
    )
    .await;
    Ok(())
}

/// Resolves once the connection has no request in progress.
async fn wait_idle(in_flight: &InFlight) {
    loop {
        let idle = in_flight.idle.notified();
        tokio::pin!(idle);
        idle.as_mut().enable();
        if in_flight.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        idle.await;
    }
}

/// A one-shot broadcast of the shutdown signal.
mod tokio_util_like {
    use tokio::sync::watch;

    pub struct Shutdown {
        tx: watch::Sender<bool>,
    }

    impl Default for Shutdown {
        fn default() -> Self {
            Self {
                tx: watch::channel(false).0,
            }
        }
    }

    impl Shutdown {
        pub fn subscribe(&self) -> Stop {
            Stop {
                rx: self.tx.subscribe(),
            }
        }

        pub fn trigger(&self) {
            self.tx.send_replace(true);
        }
    }

    pub struct Stop {
        rx: watch::Receiver<bool>,
    }

    impl Stop {
        pub async fn wait(&mut self) {
            let _ = self.rx.wait_for(|stopped| *stopped).await;
        }
    }
}
