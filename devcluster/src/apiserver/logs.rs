//! `pods/log`: proxies to the kubelet of the pod's node, as kube-apiserver
//! does: `https://<node InternalIP>:<kubeletEndpoint port>/containerLogs/...`,
//! without verifying the kubelet's serving certificate (kube-apiserver's
//! default without `--kubelet-certificate-authority`) and authenticating with
//! the kubelet client certificate (`--kubelet-client-certificate`, signed by
//! the server's CA) and, if configured, a bearer token. The body streams, so
//! `kubectl logs -f` follows.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

use super::error::{ApiResult, ApiServerError, StatusError};
use super::resources;
use super::store::Store;

/// Accepts any kubelet serving certificate; signatures are still checked.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TLS towards kubelets: any serving certificate (see the module docs),
/// presenting `identity` (certificate chain and key) when given.
pub fn kubelet_tls(
    identity: Option<&super::tls::ClientIdentity>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)));
    match identity {
        Some(id) => builder.with_client_auth_cert(id.chain.clone(), id.key.clone_key()),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The HTTP client used to reach kubelets.
pub fn kubelet_client(
    identity: Option<&super::tls::ClientIdentity>,
) -> Result<reqwest::Client, ApiServerError> {
    let tls = kubelet_tls(identity);
    let builder = reqwest::Client::builder();
    let builder = match tls {
        Ok(cfg) => builder.tls_backend_preconfigured(cfg),
        Err(e) => {
            tracing::warn!(error = %e, "no TLS for kubelet client; http only");
            builder
        }
    };
    builder.build().map_err(ApiServerError::KubeletClientFailed)
}

fn go_list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

fn container_names(pod: &Value, key: &str) -> Vec<String> {
    pod["spec"][key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The pod, or kube-apiserver's 404.
pub fn pod(store: &Store, ns: &str, name: &str) -> ApiResult<Value> {
    store
        .get("pods", ns, name)
        .ok_or_else(|| StatusError::not_found(resources::pods(), name))
}

/// Chooses the container and builds the kubelet URL for a log request.
pub fn kubelet_url(
    store: &Store,
    scheme: &str,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> ApiResult<String> {
    let pod = pod(store, ns, name)?;
    let container = choose_container(&pod, name, q)?;
    let mut url = kubelet_base(store, scheme, &pod, name)?;
    url.path_segments_mut()
        .map_err(|_| StatusError::internal("kubelet URL cannot have a path"))?
        .extend(["containerLogs", ns, name, &container]);
    {
        let mut qp = url.query_pairs_mut();
        for key in ["follow", "previous", "timestamps"] {
            if q.get(key).is_some_and(|v| v == "true" || v == "1") {
                qp.append_pair(key, "true");
            }
        }
        for key in ["tailLines", "sinceSeconds", "limitBytes", "sinceTime"] {
            if let Some(v) = q.get(key).filter(|v| !v.is_empty()) {
                qp.append_pair(key, v);
            }
        }
    }
    let s = url.to_string();
    Ok(s.strip_suffix('?').map(str::to_string).unwrap_or(s))
}

/// The container a request names (`container`), or the only one, with
/// kube-apiserver's errors (`streamLocation`).
pub fn choose_container(pod: &Value, name: &str, q: &HashMap<String, String>) -> ApiResult<String> {
    let containers = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    let ephemeral = container_names(pod, "ephemeralContainers");
    let container = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !containers.contains(c) && !init.contains(c) && !ephemeral.contains(c) {
                return Err(StatusError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: {}",
                go_list(&containers)
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: {}",
                    go_list(&init)
                ));
            }
            if !ephemeral.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: {}",
                    go_list(&ephemeral)
                ));
            }
            return Err(StatusError::bad_request(msg));
        }
    };
    Ok(container)
}

/// `scheme://<node address>:<kubelet port>/` of the pod's node, or
/// kube-apiserver's errors for a pod without one.
pub fn kubelet_base(store: &Store, scheme: &str, pod: &Value, name: &str) -> ApiResult<url::Url> {
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    if node_name.is_empty() {
        return Err(StatusError::bad_request(format!(
            "pod {name} does not have a host assigned"
        )));
    }
    let node = store
        .get("nodes", "", node_name)
        .ok_or_else(|| StatusError::not_found(resources::nodes(), node_name))?;
    let addr = node["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == "InternalIP")
        .or_else(|| {
            node["status"]["addresses"]
                .as_array()
                .and_then(|a| a.first())
        })
        .and_then(|a| a["address"].as_str())
        .ok_or_else(|| StatusError::bad_request(format!("node {node_name} has no address")))?
        .to_string();
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or(10250);
    let host = if addr.contains(':') {
        format!("[{addr}]")
    } else {
        addr
    };
    url::Url::parse(&format!("{scheme}://{host}:{port}/"))
        .map_err(|e| StatusError::bad_request(format!("invalid kubelet address: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::store::Mutation;
    use serde_json::json;

    #[test]
    fn url_and_container_choice() {
        let s = Store::in_memory(10);
        let pod = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n", "containers": [{"name": "a"}, {"name": "b"}]}});
        s.mutate("pods", "d", "p", |_| Ok(Mutation::Put(pod)))
            .expect("put");
        let node = json!({"metadata": {"name": "n"}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 8080}}}});
        s.mutate("nodes", "", "n", |_| Ok(Mutation::Put(node)))
            .expect("put");
        let e = kubelet_url(&s, "https", "d", "p", &HashMap::new()).expect_err("ambiguous");
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        let mut q = HashMap::new();
        q.insert("container".to_string(), "b".to_string());
        q.insert("follow".to_string(), "true".to_string());
        q.insert("tailLines".to_string(), "5".to_string());
        assert_eq!(
            kubelet_url(&s, "http", "d", "p", &q).expect("url"),
            "http://127.0.0.1:8080/containerLogs/d/p/b?follow=true&tailLines=5"
        );
    }
}
