//! Optional TLS with a freshly generated self-signed certificate, like a new PVE node has;
//! its SHA-256 fingerprint lets clients test certificate pinning.

use std::io;
use std::sync::Arc;

use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::Digest;
use tokio_rustls::TlsAcceptor;

/// `AA:BB:...` of a DER certificate.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A generated certificate: the acceptor serving it, its fingerprint and its PEM.
pub(crate) struct SelfSigned {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) fingerprint: String,
    pub(crate) pem: String,
}

/// A self-signed certificate valid for `localhost` and `127.0.0.1`.
pub(crate) fn self_signed() -> io::Result<SelfSigned> {
    let other = |e: &dyn std::fmt::Display| io::Error::other(format!("TLS setup: {e}"));
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .map_err(|e| other(&e))?;
    let pem = generated.cert.pem();
    let cert = generated.cert.der().clone();
    let fingerprint = fingerprint(&cert);
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| other(&e))?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .map_err(|e| other(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(SelfSigned {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        fingerprint,
        pem,
    })
}
