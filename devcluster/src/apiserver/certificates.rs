//! CertificateSigningRequests (`certificates.k8s.io/v1`): the request's
//! PKCS#10 parsed and checked as kube-apiserver checks it
//! (`pkg/apis/certificates` `ParseCSR`, `ValidateKubeletClientCSR`), and
//! the signing kube-controller-manager's `csrsigning` does with the
//! cluster CA. The approver is in `controllers::csr`.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::Value;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// The signer of kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of other API server client certificates.
pub const CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client";

/// What the approver and the validation look at in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrSubject {
    /// The subject's common name.
    pub common_name: String,
    /// The subject's organizations, in order.
    pub organizations: Vec<String>,
    /// Kinds of subject alternative names asked for (`DNS`, `IP`, `Email`, `URI`).
    pub san_kinds: BTreeSet<&'static str>,
    /// The request as PEM text.
    pub pem: String,
}

/// `spec.request` (base64 of PEM) parsed, its signature verified.
pub fn parse_request(spec: &Value) -> Result<CsrSubject, String> {
    let raw = spec["request"].as_str().unwrap_or_default();
    let pem_bytes = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    let pem = String::from_utf8(pem_bytes)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    let der = pem_block(&pem, "CERTIFICATE REQUEST")
        .ok_or_else(|| "PEM block type must be CERTIFICATE REQUEST".to_string())?;
    let (_, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| format!("asn1: structure error: {e}"))?;
    csr.verify_signature()
        .map_err(|_| "x509: ECDSA verification failure".to_string())?;
    let subject = &csr.certification_request_info.subject;
    let text = |v: &x509_parser::x509::AttributeTypeAndValue| v.as_str().ok().map(str::to_string);
    let mut san_kinds = BTreeSet::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                san_kinds.insert(match name {
                    GeneralName::DNSName(_) => "DNS",
                    GeneralName::IPAddress(_) => "IP",
                    GeneralName::RFC822Name(_) => "Email",
                    GeneralName::URI(_) => "URI",
                    _ => "other",
                });
            }
        }
    }
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(text)
        .unwrap_or_default();
    let organizations = subject.iter_organization().filter_map(text).collect();
    Ok(CsrSubject {
        common_name,
        organizations,
        san_kinds,
        pem,
    })
}

/// The DER of the first PEM block of type `label`.
fn pem_block(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// `spec.usages`.
pub fn usages(spec: &Value) -> BTreeSet<String> {
    spec["usages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_string))
        .collect()
}

/// `certificates.ValidateKubeletClientCSR`, with its error texts.
pub fn validate_kubelet_client(csr: &CsrSubject, usages: &BTreeSet<String>) -> Result<(), String> {
    if csr.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    for (kind, text) in [
        ("DNS", "DNS subjectAltNames are not allowed"),
        ("Email", "Email subjectAltNames are not allowed"),
        ("IP", "IP subjectAltNames are not allowed"),
        ("URI", "URI subjectAltNames are not allowed"),
    ] {
        if csr.san_kinds.contains(kind) {
            return Err(text.into());
        }
    }
    if !csr.common_name.starts_with("system:node:") {
        return Err("subject common name does not begin with system:node:".into());
    }
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let with_rsa = set(&["client auth", "digital signature", "key encipherment"]);
    let without_rsa = set(&["client auth", "digital signature"]);
    if *usages != with_rsa && *usages != without_rsa {
        return Err("usages did not match [client auth digital signature key encipherment]".into());
    }
    Ok(())
}

/// The validation of a new CSR (`ValidateCertificateSigningRequestCreate`):
/// `(field, message)` of each problem.
pub fn validate_create(spec: &Value) -> Vec<(&'static str, String)> {
    let mut errs = Vec::new();
    let parsed = parse_request(spec);
    if let Err(e) = &parsed {
        errs.push(("spec.request", e.clone()));
    }
    let signer = spec["signerName"].as_str().unwrap_or_default();
    if signer.is_empty() {
        errs.push(("spec.signerName", "Required value".into()));
    }
    let usages = usages(spec);
    if usages.is_empty() {
        errs.push(("spec.usages", "Required value".into()));
    }
    if let Some(secs) = spec["expirationSeconds"].as_i64() {
        if secs < 600 {
            errs.push((
                "spec.expirationSeconds",
                "may not specify a duration less than 600 seconds (10 minutes)".into(),
            ));
        }
    }
    if let (Ok(csr), KUBELET_CLIENT_SIGNER) = (&parsed, signer) {
        if let Err(e) = validate_kubelet_client(csr, &usages) {
            errs.push((
                "spec.request",
                format!("invalid {KUBELET_CLIENT_SIGNER} signer CSR: {e}"),
            ));
        }
    }
    errs
}

/// The cluster CA as a signer.
#[derive(Clone)]
pub struct Signer {
    /// CA certificate (PEM).
    pub ca_pem: String,
    /// CA key (PEM).
    pub ca_key_pem: String,
    /// Longest validity given (kube-controller-manager's
    /// `--cluster-signing-duration`).
    pub max_duration: std::time::Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("max_duration", &self.max_duration)
            .finish_non_exhaustive()
    }
}

/// How far back a certificate's validity starts, for clocks that lag
/// (kube-controller-manager's backdate).
const BACKDATE_SECS: i64 = 5 * 60;

impl Signer {
    /// Signs the request of `spec` at `now` (Unix seconds): the subject and
    /// key of the request, the usages of the spec, valid for the shorter of
    /// `expirationSeconds` and the signer's maximum. Returns the PEM.
    pub fn sign(&self, spec: &Value, now: i64) -> Result<String, String> {
        let csr = parse_request(spec)?;
        let mut request = rcgen::CertificateSigningRequestParams::from_pem(&csr.pem)
            .map_err(|e| format!("parsing the request: {e}"))?;
        let max = i64::try_from(self.max_duration.as_secs()).unwrap_or(i64::MAX);
        let secs = spec["expirationSeconds"]
            .as_i64()
            .map_or(max, |e| e.min(max));
        let at = |t: i64| {
            x509_parser::time::ASN1Time::from_timestamp(t)
                .map(|t| t.to_datetime())
                .map_err(|e| format!("certificate time: {e}"))
        };
        let params = &mut request.params;
        params.not_before = at(now - BACKDATE_SECS)?;
        params.not_after = at(now.saturating_add(secs))?;
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.subject_alt_names.clear();
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages.clear();
        params.extended_key_usages.clear();
        for u in usages(spec) {
            match u.as_str() {
                "digital signature" => params
                    .key_usages
                    .push(rcgen::KeyUsagePurpose::DigitalSignature),
                "key encipherment" => params
                    .key_usages
                    .push(rcgen::KeyUsagePurpose::KeyEncipherment),
                "client auth" => params
                    .extended_key_usages
                    .push(rcgen::ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => params
                    .extended_key_usages
                    .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth),
                _ => {}
            }
        }
        params.use_authority_key_identifier_extension = true;
        let key = rcgen::KeyPair::from_pem(&self.ca_key_pem).map_err(|e| e.to_string())?;
        let issuer =
            rcgen::Issuer::from_ca_cert_pem(&self.ca_pem, key).map_err(|e| e.to_string())?;
        let cert = request.signed_by(&issuer).map_err(|e| e.to_string())?;
        Ok(cert.pem())
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    /// A CSR spec as a kubelet sends it, for `cn`/`o`.
    pub fn kubelet_spec(cn: &str, o: &str, usages: &[&str]) -> Value {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, o);
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        json!({"request": base64::engine::general_purpose::STANDARD.encode(pem),
               "signerName": KUBELET_CLIENT_SIGNER, "usages": usages})
    }

    #[test]
    fn kubelet_client_requests_are_recognised_as_kube_apiserver_does() {
        let good = kubelet_spec(
            "system:node:n1",
            "system:nodes",
            &["digital signature", "client auth"],
        );
        assert!(validate_create(&good).is_empty());
        let csr = parse_request(&good).unwrap();
        assert_eq!(csr.common_name, "system:node:n1");
        let bad_o = kubelet_spec(
            "system:node:n1",
            "system:masters",
            &["digital signature", "client auth"],
        );
        assert!(validate_create(&bad_o)[0]
            .1
            .contains("subject organization is not system:nodes"));
        let bad_cn = kubelet_spec(
            "admin",
            "system:nodes",
            &["digital signature", "client auth"],
        );
        assert!(validate_create(&bad_cn)[0]
            .1
            .contains("does not begin with system:node:"));
        let bad_usage = kubelet_spec("system:node:n1", "system:nodes", &["server auth"]);
        assert!(validate_create(&bad_usage)[0]
            .1
            .contains("usages did not match"));
        let mut garbage = good.clone();
        garbage["request"] = json!("bm90IGEgY3Ny");
        assert_eq!(validate_create(&garbage)[0].0, "spec.request");
    }

    #[test]
    fn signing_gives_a_client_certificate_of_the_requested_subject() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ca");
        let ca_key_pem = ca_key.serialize_pem();
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let signer = Signer {
            ca_pem: ca.pem(),
            ca_key_pem,
            max_duration: std::time::Duration::from_secs(3600),
        };
        let mut spec = kubelet_spec(
            "system:node:n1",
            "system:nodes",
            &["digital signature", "client auth"],
        );
        spec["expirationSeconds"] = json!(1200);
        let now = 1_900_000_000;
        let pem = signer.sign(&spec, now).expect("signed");
        let der = pem_block(&pem, "CERTIFICATE").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(cert.validity().not_after.timestamp(), now + 1200);
        assert_eq!(cert.validity().not_before.timestamp(), now - BACKDATE_SECS);
        let cn: Vec<_> = cert
            .subject()
            .iter_common_name()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(cn, ["system:node:n1"]);
        let o: Vec<_> = cert
            .subject()
            .iter_organization()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(o, ["system:nodes"]);
        // Without expirationSeconds: the signer's maximum.
        spec.as_object_mut().unwrap().remove("expirationSeconds");
        let der = pem_block(&signer.sign(&spec, now).unwrap(), "CERTIFICATE").unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(cert.validity().not_after.timestamp(), now + 3600);
    }
}
