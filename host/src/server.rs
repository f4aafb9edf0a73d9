//! The HTTP server: accept loop, HTTP/1.1 + h2c, graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use switchyard_core::Gateway;
use tokio::net::TcpListener;

/// How long in-flight requests (streams included) may run after a shutdown signal.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `gateway` on `listener` until SIGTERM or SIGINT, then drains in-flight requests.
pub(crate) async fn serve(listener: TcpListener, gateway: Gateway) -> std::io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());

    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let gateway = gateway.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.handle(req).await) }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            }
            signal = &mut shutdown => {
                tracing::info!(signal, "shutting down: no new connections, draining in-flight requests");
                break;
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "grace period over, closing remaining connections");
        }
    }
    Ok(())
}

async fn shutdown_signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    name = ctrl_c => name,
                    _ = term.recv() => "SIGTERM",
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    {
        ctrl_c.await
    }
}

/// Binds the listening socket.
pub(crate) async fn bind(host: &str, port: u16) -> Result<TcpListener, String> {
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve listen address {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("listen address {host}:{port} resolves to nothing"))?;
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}
