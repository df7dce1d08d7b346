//! The server's own CA and serving certificate.
//!
//! client-go sends bearer tokens only over TLS (clientcmd drops them for
//! `http://` servers), so kubectl with a token needs https. On first start we
//! create a CA and a serving certificate for `localhost`, `127.0.0.1` and
//! `::1` in the data directory and reuse them afterwards, so a kubeconfig
//! written before a restart stays valid. The listener also speaks plain HTTP
//! (see `mod.rs`), for clients that do send tokens without TLS.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{ApiServerError, Result};

/// Serving TLS material.
pub struct ServingTls {
    /// The CA certificate (PEM), for kubeconfigs.
    pub ca_pem: String,
    /// The CA's private key (PEM): it signs client certificates (approved
    /// CSRs, the kubelet client's).
    pub ca_key_pem: String,
    /// Acceptor with the serving certificate; it asks for a client
    /// certificate and verifies one that is given against the CA.
    pub acceptor: tokio_rustls::TlsAcceptor,
}

/// A client certificate chain and its key (the kubelet client's).
pub struct ClientIdentity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The key.
    pub key: PrivateKeyDer<'static>,
}

/// The user name of the API server's kubelet client certificate (kubeadm's
/// `apiserver-kubelet-client`), bound to `system:kubelet-api-admin`.
pub const KUBELET_CLIENT_USER: &str = "kube-apiserver-kubelet-client";

/// A kubelet client certificate signed by the CA, made at every start
/// (kube-apiserver's `--kubelet-client-certificate`): what kubelet
/// endpoints that trust the CA (`--client-ca-file`) authenticate as
/// [`KUBELET_CLIENT_USER`].
pub fn kubelet_client_identity(tls: &ServingTls) -> Result<ClientIdentity> {
    let make = || -> std::result::Result<(String, String), rcgen::Error> {
        let ca_key = rcgen::KeyPair::from_pem(&tls.ca_key_pem)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&tls.ca_pem, ca_key)?;
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, KUBELET_CLIENT_USER);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (cert_pem, key_pem) = make().map_err(setup_err)?;
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(setup_err)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(setup_err)?;
    Ok(ClientIdentity { chain, key })
}

fn setup_err(e: impl std::error::Error + Send + Sync + 'static) -> ApiServerError {
    ApiServerError::TlsSetupFailed(Box::new(e))
}

fn generate() -> std::result::Result<(String, String, String, String), rcgen::Error> {
    let ca_key = rcgen::KeyPair::generate()?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kube-mesos-devcluster-ca");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key_pem = ca_key.serialize_pem();
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kube-apiserver");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca)?;
    Ok((ca.pem(), ca_key_pem, cert.pem(), key.serialize_pem()))
}

fn write(path: &Path, data: &str) -> Result<()> {
    std::fs::write(path, data).map_err(|source| ApiServerError::WriteStoreFailed {
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Loads the CA and serving certificate from `dir`, creating them if
/// absent (also when the CA key is missing: data dirs from before client
/// certificates kept no CA key).
pub fn load_or_create(dir: &Path) -> Result<ServingTls> {
    let (ca_p, ca_key_p, cert_p, key_p) = (
        dir.join("ca.crt"),
        dir.join("ca.key"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    let (ca_pem, ca_key_pem, cert_pem, key_pem) =
        match (read(&ca_p), read(&ca_key_p), read(&cert_p), read(&key_p)) {
            (Some(a), Some(b), Some(c), Some(d)) => (a, b, c, d),
            _ => {
                let (a, b, c, d) = generate().map_err(setup_err)?;
                write(&ca_p, &a)?;
                write_private(&ca_key_p, &b)?;
                write(&cert_p, &c)?;
                write_private(&key_p, &d)?;
                (a, b, c, d)
            }
        };
    let roots = {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(ca.map_err(setup_err)?).map_err(setup_err)?;
        }
        Arc::new(roots)
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(setup_err)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(setup_err)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // kube-apiserver's `VerifyClientCertIfGiven`: no certificate is fine
    // (tokens), a certificate not from the CA ends the handshake.
    let clients =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(setup_err)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup_err)?
        .with_client_cert_verifier(clients)
        .with_single_cert(certs, key)
        .map_err(setup_err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServingTls {
        ca_pem,
        ca_key_pem,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    })
}

fn write_private(path: &Path, data: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()))
        .map_err(|source| ApiServerError::WriteStoreFailed {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_once_and_reuses() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create(dir.path()).expect("create");
        let b = load_or_create(dir.path()).expect("reuse");
        assert_eq!(a.ca_pem, b.ca_pem);
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    }
}
