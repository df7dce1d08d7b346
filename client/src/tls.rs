//! TLS to a Mesos process, with libprocess' client-side rules
//! (`src/openssl.cpp`): without `verify_server_cert` any certificate is
//! accepted (libprocess' default); with it, the CA file/dir are the roots,
//! or the system's without them. The configured certificate and key are
//! presented as the client's.
//!
//! reqwest is built with `rustls-no-provider` (no aws-lc) and panics when
//! building a client unless a process-wide rustls provider is installed:
//! [`install_crypto_provider`] installs ring's.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// TLS settings, from the libprocess SSL variables or flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsSettings {
    /// Verify the peer's certificate (libprocess default: no).
    pub verify_server_cert: bool,
    /// `LIBPROCESS_SSL_CA_FILE`: roots to verify against.
    pub ca_file: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CA_DIR`: a directory of PEM roots.
    pub ca_dir: Option<PathBuf>,
    /// `LIBPROCESS_SSL_CERT_FILE` and `LIBPROCESS_SSL_KEY_FILE`: the client
    /// certificate, when both are set.
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// Installs ring's rustls provider unless one is installed already.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Applies `tls` to a client builder.
pub(crate) fn with_tls(
    mut builder: reqwest::ClientBuilder,
    tls: &TlsSettings,
) -> Result<reqwest::ClientBuilder> {
    if tls.verify_server_cert {
        let mut roots = Vec::new();
        if let Some(file) = &tls.ca_file {
            let certs = reqwest::Certificate::from_pem_bundle(&read(file)?)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| invalid(file, "certificate"))?;
            roots.extend(certs);
        }
        if let Some(dir) = &tls.ca_dir {
            let entries = std::fs::read_dir(dir).map_err(|source| Error::TlsFileReadFailed {
                path: dir.clone(),
                source,
            })?;
            for path in entries.flatten().map(|e| e.path()).filter(|p| p.is_file()) {
                // OpenSSL's CA directories hold PEM files (and their hash
                // links); anything else there is skipped.
                if let Ok(certs) = reqwest::Certificate::from_pem_bundle(&read(&path)?) {
                    roots.extend(certs);
                }
            }
        }
        if tls.ca_file.is_some() || tls.ca_dir.is_some() {
            builder = builder.tls_certs_only(roots);
        }
    } else {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    if let Some((cert, key)) = &tls.client_identity {
        let mut pem = read(cert)?;
        pem.push(b'\n');
        pem.extend(read(key)?);
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|_| invalid(cert, "certificate and private key"))?;
        builder = builder.identity(identity);
    }
    Ok(builder)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::TlsFileReadFailed {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, what: &'static str) -> Error {
    Error::TlsFileInvalid {
        path: path.to_path_buf(),
        what,
    }
}
