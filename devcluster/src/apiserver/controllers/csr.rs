//! kube-controller-manager's certificate controllers for kubelet client
//! certificates: `csrapproving` (approve a kubelet's CSR when a
//! SubjectAccessReview says its requester may create
//! `certificatesigningrequests/nodeclient`, or `selfnodeclient` when it
//! renews its own identity) and `csrsigning` (sign approved requests of
//! the `kube-apiserver-client-kubelet` and `kube-apiserver-client` signers
//! with the cluster CA).

use base64::Engine;
use serde_json::{json, Value};

use super::client::Action;
use super::meta::Clock;
use crate::apiserver::auth::{user, Attributes, UserInfo};
use crate::apiserver::certificates::{self, Signer, CLIENT_SIGNER, KUBELET_CLIENT_SIGNER};

/// Whether a user may do something (a SubjectAccessReview).
pub type Authorize<'a> = dyn Fn(&UserInfo, &Attributes) -> bool + 'a;

fn has_condition(csr: &Value, ty: &str) -> bool {
    csr["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == ty && c["status"] != "False")
}

fn with_condition(csr: &Value, ty: &str, reason: &str, message: &str, clock: &Clock) -> Value {
    let mut out = csr.clone();
    let cond = json!({"type": ty, "status": "True", "reason": reason, "message": message,
                      "lastUpdateTime": clock.text, "lastTransitionTime": clock.text});
    match out["status"]["conditions"].as_array_mut() {
        Some(list) => list.push(cond),
        None => out["status"]["conditions"] = json!([cond]),
    }
    out
}

/// `sarApprover.handle`: the approval of a pending kubelet client CSR.
fn approve(csr: &Value, allowed: &Authorize, clock: &Clock) -> Option<Action> {
    let spec = &csr["spec"];
    if spec["signerName"] != KUBELET_CLIENT_SIGNER {
        return None;
    }
    let parsed = certificates::parse_request(spec).ok()?;
    certificates::validate_kubelet_client(&parsed, &certificates::usages(spec)).ok()?;
    let user = user::from_spec(spec, "username");
    let mut recognizers = Vec::new();
    if user.name == parsed.common_name {
        recognizers.push((
            "selfnodeclient",
            "Auto approving self kubelet client certificate after SubjectAccessReview.",
        ));
    }
    recognizers.push((
        "nodeclient",
        "Auto approving kubelet client certificate after SubjectAccessReview.",
    ));
    for (sub, message) in recognizers {
        let attrs = Attributes {
            resource_request: true,
            verb: "create".into(),
            api_group: "certificates.k8s.io".into(),
            resource: "certificatesigningrequests".into(),
            subresource: sub.into(),
            ..Attributes::default()
        };
        if allowed(&user, &attrs) {
            return Some(Action::UpdateApproval(with_condition(
                csr,
                "Approved",
                "AutoApproved",
                message,
                clock,
            )));
        }
    }
    tracing::debug!(csr = %csr["metadata"]["name"], requester = %user.name, "kubelet client CSR recognised but not approved: the SubjectAccessReview said no");
    None
}

/// `csrsigning`: the certificate of an approved request of our signers.
fn sign(csr: &Value, signer: &Signer, clock: &Clock) -> Option<Action> {
    let spec = &csr["spec"];
    let name = spec["signerName"].as_str().unwrap_or_default();
    if name != KUBELET_CLIENT_SIGNER && name != CLIENT_SIGNER {
        return None;
    }
    if name == KUBELET_CLIENT_SIGNER {
        let valid = certificates::parse_request(spec)
            .and_then(|p| certificates::validate_kubelet_client(&p, &certificates::usages(spec)));
        if let Err(e) = valid {
            return Some(Action::UpdateStatus(with_condition(
                csr,
                "Failed",
                "SignerValidationFailure",
                &format!("invalid {KUBELET_CLIENT_SIGNER} CSR: {e}"),
                clock,
            )));
        }
    }
    match signer.sign(spec, clock.secs) {
        Ok(pem) => {
            let mut out = csr.clone();
            out["status"]["certificate"] =
                json!(base64::engine::general_purpose::STANDARD.encode(pem));
            Some(Action::UpdateStatus(out))
        }
        Err(e) => Some(Action::UpdateStatus(with_condition(
            csr,
            "Failed",
            "SigningError",
            &e,
            clock,
        ))),
    }
}

/// One CSR's next step, if any.
pub fn reconcile(
    csr: &Value,
    allowed: &Authorize,
    signer: Option<&Signer>,
    clock: &Clock,
) -> Option<Action> {
    let issued = csr["status"]["certificate"]
        .as_str()
        .is_some_and(|c| !c.is_empty());
    if issued || has_condition(csr, "Denied") || has_condition(csr, "Failed") {
        return None;
    }
    if !has_condition(csr, "Approved") {
        return approve(csr, allowed, clock);
    }
    sign(csr, signer?, clock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::certificates::tests::kubelet_spec;

    fn csr(spec: Value, user: &UserInfo) -> Value {
        let mut spec = spec;
        spec["username"] = json!(user.name);
        spec["groups"] = json!(user.groups);
        json!({"metadata": {"name": "csr-1"}, "spec": spec, "status": {}})
    }

    fn signer() -> Signer {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key_pem = key.serialize_pem();
        let ca = rcgen::CertifiedIssuer::self_signed(p, key).unwrap();
        Signer {
            ca_pem: ca.pem(),
            ca_key_pem: key_pem,
            max_duration: std::time::Duration::from_secs(3600),
        }
    }

    const USAGES: &[&str] = &["digital signature", "client auth"];

    #[test]
    fn a_bootstrapper_allowed_nodeclient_is_approved_then_signed() {
        let clock = Clock::at(1_900_000_000);
        let boot = UserInfo::new("system:bootstrap:abcdef", &["system:bootstrappers"]);
        let pending = csr(
            kubelet_spec("system:node:n1", "system:nodes", USAGES),
            &boot,
        );
        let asked = std::cell::RefCell::new(Vec::new());
        let allow = |u: &UserInfo, a: &Attributes| {
            asked
                .borrow_mut()
                .push((u.name.clone(), a.subresource.clone()));
            a.subresource == "nodeclient"
        };
        let Some(Action::UpdateApproval(approved)) = reconcile(&pending, &allow, None, &clock)
        else {
            panic!("not approved");
        };
        assert_eq!(
            asked.borrow().as_slice(),
            [(
                "system:bootstrap:abcdef".to_string(),
                "nodeclient".to_string()
            )]
        );
        assert_eq!(
            approved["status"]["conditions"][0]["reason"],
            "AutoApproved"
        );
        // Approved but no signer: nothing more.
        assert!(reconcile(&approved, &allow, None, &clock).is_none());
        let Some(Action::UpdateStatus(signed)) =
            reconcile(&approved, &allow, Some(&signer()), &clock)
        else {
            panic!("not signed");
        };
        assert!(signed["status"]["certificate"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
        assert!(reconcile(&signed, &allow, Some(&signer()), &clock).is_none());
    }

    #[test]
    fn a_renewal_asks_for_selfnodeclient_and_a_refusal_approves_nothing() {
        let clock = Clock::at(1_900_000_000);
        let node = UserInfo::node("n1");
        let renewal = csr(
            kubelet_spec("system:node:n1", "system:nodes", USAGES),
            &node,
        );
        let allow_self = |_: &UserInfo, a: &Attributes| a.subresource == "selfnodeclient";
        assert!(matches!(
            reconcile(&renewal, &allow_self, None, &clock),
            Some(Action::UpdateApproval(_))
        ));
        // Another node's name is not "self", and nodes may not ask for others.
        let other = csr(
            kubelet_spec("system:node:n2", "system:nodes", USAGES),
            &node,
        );
        assert!(reconcile(&other, &allow_self, None, &clock).is_none());
        let never = |_: &UserInfo, _: &Attributes| false;
        assert!(reconcile(&renewal, &never, None, &clock).is_none());
        // Not a kubelet client CSR: not this approver's.
        let admin = csr(kubelet_spec("admin", "system:masters", USAGES), &node);
        assert!(reconcile(&admin, &|_: &UserInfo, _: &Attributes| true, None, &clock).is_none());
    }
}
