//! A cluster server's TCP listener: TLS only, client certificates verified against the
//! cluster's CA when presented, and each request given the [`orco_pki::Peer`] it came from.

use std::sync::Arc;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;
use tower::ServiceExt;

/// Serves `router` over TLS on `listener` until `stopped`.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<orco_pki::rustls::ServerConfig>,
    mut stopped: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|stop| *stop) => break,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _)) = accepted else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let stop = stopped.clone();
        tokio::spawn(async move {
            let handshake =
                tokio::time::timeout(crate::serve::TCP_HEAD_TIMEOUT, acceptor.accept(tcp));
            let Ok(Ok(tls)) = handshake.await else {
                return;
            };
            let peer = orco_pki::peer_of(tls.get_ref().1);
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    router.clone().oneshot(request)
                });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(crate::serve::TCP_HEAD_TIMEOUT);
            let connection = builder
                .serve_connection(TokioIo::new(tls), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let mut stop = stop;
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        });
    }
}
