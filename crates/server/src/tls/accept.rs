//! The user of a connection's client certificate, for every request on it.
//!
//! OpenSSL verified the certificate against the server's CA during the handshake (a
//! certificate that does not verify fails the handshake); [`ClientCerts`] reads who it names
//! once per connection and every request carries it as a [`PeerUser`] extension.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
};

use axum_server::accept::Accept;
use openssl::x509::X509;

use crate::auth::User;

/// The user a connection's client certificate names (`None`: the client sent none).
#[derive(Clone, Debug)]
pub(crate) struct PeerUser(pub(crate) Option<User>);

/// A TLS stream whose peer certificate can be read.
pub(crate) trait PeerCertificate {
    /// The verified certificate the client presented, if any.
    fn peer_certificate(&self) -> Option<X509>;
}

impl<T> PeerCertificate for tokio_openssl::SslStream<T> {
    fn peer_certificate(&self) -> Option<X509> {
        self.ssl().peer_certificate()
    }
}

/// An acceptor around the TLS acceptor that adds [`PeerUser`] to each request.
#[derive(Clone)]
pub(crate) struct ClientCerts<A>(pub(crate) A);

impl<A, I, S> Accept<I, S> for ClientCerts<A>
where
    A: Accept<I, S>,
    A::Future: Send + 'static,
    A::Stream: PeerCertificate + Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = A::Stream;
    type Service = WithPeer<A::Service>;
    type Future =
        Pin<Box<dyn Future<Output = io::Result<(A::Stream, WithPeer<A::Service>)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, inner) = accepted.await?;
            let user = stream.peer_certificate().and_then(|cert| super::certificate_user(&cert));
            Ok((stream, WithPeer { inner, user: PeerUser(user) }))
        })
    }
}

/// A connection's service with the [`PeerUser`] of the connection.
#[derive(Clone)]
pub(crate) struct WithPeer<S> {
    inner: S,
    user: PeerUser,
}

impl<S, B> tower::Service<axum::http::Request<B>> for WithPeer<S>
where
    S: tower::Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.user.clone());
        self.inner.call(request)
    }
}
