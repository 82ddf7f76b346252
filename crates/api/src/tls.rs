//! TLS on Latch's own listener (rustls with ring): a certificate chain and
//! its private key, PEM, as the settings name them.

use std::sync::Arc;

pub use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate or key cannot serve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    #[error("the certificate file holds no PEM certificate")]
    NoCertificate,
    #[error("the certificate file cannot be read as PEM: {0}")]
    Certificate(String),
    #[error("the key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {0}")]
    Key(String),
    #[error("the certificate and key do not make a TLS server: {0}")]
    Config(String),
}

/// A server configuration for `cert_pem` (the chain, leaf first) and
/// `key_pem`: TLS 1.2 and 1.3 with rustls's safe defaults, HTTP/1.1.
pub fn server_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_by_what_is_wrong() {
        assert_eq!(
            server_config(b"", b"").unwrap_err(),
            TlsError::NoCertificate
        );
        assert!(matches!(
            server_config(
                b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
                b""
            ),
            Err(TlsError::Certificate(_))
        ));
    }
}
