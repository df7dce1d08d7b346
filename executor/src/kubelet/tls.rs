//! The kubelet endpoint's TLS: a configured serving certificate, or a
//! self-signed one made at start (the kubelet does the same without
//! `--tls-cert-file`; the API server does not verify kubelet certificates
//! unless told to). Client certificates are requested, and verified against
//! the configured client CA, but not required, so that bearer-token callers
//! still get through to the 401 check.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::ExecutorConfig;

/// Why the TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("reading {path} failed")]
    ReadFailed {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path} holds no usable PEM {what}")]
    PemInvalid {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key`.
        what: &'static str,
    },
    /// Generating the self-signed certificate failed.
    #[error("generating the self-signed serving certificate failed")]
    GenerateFailed(#[source] rcgen::Error),
    /// rustls refused the configuration.
    #[error("building the TLS configuration failed")]
    ConfigFailed(#[source] rustls::Error),
    /// The client CA could not be used.
    #[error("the kubelet client CA cannot be used")]
    ClientCaFailed(#[source] rustls::server::VerifierBuilderError),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::ReadFailed {
        path: path.to_path_buf(),
        source,
    })
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::PemInvalid {
            path: path.to_path_buf(),
            what: "certificate",
        });
    }
    Ok(certs)
}

/// A self-signed certificate for `names` (DNS names or IPs): (cert PEM, key PEM).
pub fn self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let key = rcgen::KeyPair::generate().map_err(TlsError::GenerateFailed)?;
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).map_err(TlsError::GenerateFailed)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("{}@kube-mesos", names.first().cloned().unwrap_or_default()),
    );
    let cert = params.self_signed(&key).map_err(TlsError::GenerateFailed)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The rustls server configuration for the kubelet endpoint. `names` go
/// into a self-signed certificate when none is configured.
pub fn server_config(
    config: &ExecutorConfig,
    names: &[String],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (chain, key) = match &config.kubelet_tls {
        Some((cert_file, key_file)) => {
            let chain = certs(cert_file)?;
            let key = PrivateKeyDer::from_pem_slice(&read(key_file)?).map_err(|_| {
                TlsError::PemInvalid {
                    path: key_file.clone(),
                    what: "private key",
                }
            })?;
            (chain, key)
        }
        None => {
            let (cert_pem, key_pem) = self_signed(names)?;
            let chain: Vec<_> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .filter_map(Result::ok)
                .collect();
            let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
                TlsError::PemInvalid {
                    path: PathBuf::from("<generated>"),
                    what: "private key",
                }
            })?;
            (chain, key)
        }
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::ConfigFailed)?;
    let builder = match &config.kubelet_auth.client_ca_file {
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca_file)? {
                roots.add(cert).map_err(TlsError::ConfigFailed)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(TlsError::ClientCaFailed)?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(TlsError::ConfigFailed)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}
