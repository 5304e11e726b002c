//! rustls configurations, all on the `ring` provider: the server's (client certificates
//! optional, verified against the CA when presented), a client pinned to a CA by the hash of
//! its key (the join token's trust, no host name check), a client trusting a CA file, and
//! the node name of a verified client certificate.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::authority::{Authority, Identity};
use crate::cert;
use crate::error::{PinMismatch, PkiError};
use crate::node::NodeIdentity;
use crate::pin::Pin;

/// The ALPN protocol every orco TLS connection speaks.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The peer of a request served over TLS, as the accept loop saw it: `Some(node)` when the
/// client presented a certificate the CA verified (its common name), `None` otherwise. The
/// daemon inserts it into every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peer(pub Option<String>);

/// The crypto provider of every configuration: ring (aws-lc would need cmake).
pub fn provider() -> Arc<CryptoProvider> {
    // Deprecated since rustls 0.23.48 only for lacking post-quantum key exchange, which is
    // aws-lc's alone; ring stays supported.
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(e: impl std::fmt::Display) -> PkiError {
    PkiError::Tls(e.to_string())
}

/// A server configuration presenting `identity`, asking clients for a certificate without
/// requiring one: a certificate that is presented must be signed by `client_ca` and be a
/// client certificate (EKU clientAuth), or the handshake fails; [`peer_node`] names it.
/// ALPN `http/1.1`.
pub fn server_config(
    identity: &Identity,
    client_ca: &Authority,
) -> Result<Arc<ServerConfig>, PkiError> {
    server_config_for(identity, Some(client_ca.cert_der())).map(Arc::new)
}

pub(crate) fn server_config_for(
    identity: &Identity,
    client_ca: Option<&CertificateDer<'static>>,
) -> Result<ServerConfig, PkiError> {
    let mut config = server_builder(client_ca)?
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(tls_error)?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}

fn server_builder(
    client_ca: Option<&CertificateDer<'static>>,
) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>, PkiError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    Ok(match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca.clone()).map_err(tls_error)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(tls_error)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    })
}

/// The certificate a running server presents, replaceable without a restart: a renewed
/// certificate is presented from the next handshake on (connections already open keep the
/// one they began with).
#[derive(Debug)]
pub struct ServerCerts {
    current: std::sync::RwLock<Arc<CertifiedKey>>,
}

impl ServerCerts {
    /// Presents `identity` until it is replaced.
    pub fn new(identity: &Identity) -> Result<Arc<ServerCerts>, PkiError> {
        Ok(Arc::new(ServerCerts {
            current: std::sync::RwLock::new(certified(identity)?),
        }))
    }

    /// The leaf certificate presented now.
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.cert.first().cloned()
    }

    /// Presents `identity` from the next handshake on, if its leaf is not the one presented
    /// now; whether it was replaced.
    pub fn replace_if_changed(&self, identity: &Identity) -> Result<bool, PkiError> {
        if identity.chain.first() == self.leaf().as_ref() {
            return Ok(false);
        }
        let next = certified(identity)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(true)
    }
}

impl rustls::server::ResolvesServerCert for ServerCerts {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn certified(identity: &Identity) -> Result<Arc<CertifiedKey>, PkiError> {
    CertifiedKey::from_der(
        identity.chain.clone(),
        identity.key.clone_key(),
        &provider(),
    )
    .map(Arc::new)
    .map_err(tls_error)
}

/// [`server_config`] presenting whatever `certs` holds at each handshake, so that a long-lived
/// server renews its certificate with [`ServerCerts::replace_if_changed`] and no restart.
pub fn renewable_server_config(
    certs: Arc<ServerCerts>,
    client_ca: &Authority,
) -> Result<Arc<ServerConfig>, PkiError> {
    let mut config = server_builder(Some(client_ca.cert_der()))?.with_cert_resolver(certs);
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that trusts a server only if the chain it presents ends in a CA
/// certificate whose public key hashes to `pin`, its leaf is signed by that CA, is valid now
/// and is a server certificate (EKU serverAuth: a node's client certificate never passes).
/// The host name is not checked: the pin is the trust. A server with another CA fails the
/// handshake with [`PinMismatch`] ("the server's CA does not match the pin in the token").
/// With `identity`, the client presents the node's certificate (mutual TLS).
pub fn pinned_client_config(
    pin: Pin,
    identity: Option<&NodeIdentity>,
) -> Result<Arc<ClientConfig>, PkiError> {
    let provider = provider();
    let verifier = PinnedVerifier {
        pin,
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain(), identity.private_key()?)
            .map_err(tls_error)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// A client configuration that verifies the server as browsers do (chain, validity, EKU and
/// host name) against the CA certificates in `ca_pem` alone (`--ca-file`, `ORCO_CA`).
pub fn ca_client_config(ca_pem: &str) -> Result<Arc<ClientConfig>, PkiError> {
    let mut roots = RootCertStore::empty();
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| PkiError::Certificate {
            what: "of the CA".to_string(),
            detail: format!("it is not PEM: {e}"),
        })?;
        roots.add(cert).map_err(|e| PkiError::Certificate {
            what: "of the CA".to_string(),
            detail: e.to_string(),
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(PkiError::Certificate {
            what: "of the CA".to_string(),
            detail: "it holds no `-----BEGIN CERTIFICATE-----` block".to_string(),
        });
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(Arc::new(config))
}

/// The node name of a client certificate the server verified: its subject's common name.
pub fn peer_node(cert: &CertificateDer<'_>) -> Option<String> {
    let parsed = cert::parse(cert).ok()?;
    cert::common_name(&parsed).filter(|name| !name.is_empty())
}

/// The [`Peer`] of a TLS server connection after its handshake.
pub fn peer_of(connection: &rustls::ServerConnection) -> Peer {
    Peer(
        connection
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(peer_node),
    )
}

/// The server certificate verifier of [`pinned_client_config`].
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    pub(crate) pin: Pin,
    pub(crate) algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    fn mismatch(&self, found: String) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
            PinMismatch {
                expected: self.pin.to_string(),
                found,
            },
        ))))
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates.last() else {
            return Err(self.mismatch("none: it sent no CA certificate".to_string()));
        };
        let found = Pin::of_certificate(ca)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if found != self.pin {
            return Err(self.mismatch(found.to_string()));
        }
        let mut roots = RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let leaf = ParsedCertificate::try_from(end_entity)?;
        // Signed by the pinned CA, within its validity, and not marked for other uses.
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &leaf,
            &roots,
            &intermediates[..intermediates.len() - 1],
            now,
            self.algorithms.all,
        )?;
        // webpki lets a certificate without any extended key usage through: a server
        // certificate must say serverAuth.
        let parsed = cert::parse(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        if !cert::usages(&parsed).0 {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::InvalidPurpose,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
