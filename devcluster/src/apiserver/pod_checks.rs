//! Checks of kube-apiserver that stop malformed or hostile pods before
//! anything runs them, beyond the basics in `strategy`: the quantity
//! grammar (a decode error: the Go type `resource.Quantity` refuses the
//! string), and from `ValidatePod`/`ValidateObjectMeta` the hostPort range,
//! volume mounts that name no volume, negative resource quantities, and the
//! total size of annotations (what makes `kubectl apply` of a 1 MB pod fail:
//! its last-applied annotation).
//!
//! Messages are kube-apiserver's (k8s.io/apimachinery `resource/quantity.go`,
//! `pkg/apis/core/validation`, `field.TooLong`).

use serde_json::{json, Value};

use super::error::FieldError;

/// `resource.ErrFormatWrong`.
pub const QUANTITY_FORMAT: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// `resource.ErrNumeric`.
pub const QUANTITY_NUMERIC: &str = "unable to parse numeric part of quantity";
/// `resource.ErrSuffix`.
pub const QUANTITY_SUFFIX: &str = "unable to parse quantity's suffix";
/// `TotalAnnotationSizeLimitB`.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

const SUFFIXES: &[&str] = &[
    "", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
];

/// Why `s` is not a quantity (`resource.ParseQuantity`), if it is not.
pub fn quantity_error(s: &str) -> Option<&'static str> {
    // ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let num_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(num_len);
    let letters = suffix
        .find(|c: char| !"eEinumkKMGTP".contains(c))
        .unwrap_or(suffix.len());
    let rest = &suffix[letters..];
    let rest_digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if number.is_empty() || !rest_digits.bytes().all(|b| b.is_ascii_digit()) {
        return Some(QUANTITY_FORMAT);
    }
    if !number.bytes().any(|b| b.is_ascii_digit()) || number.matches('.').count() > 1 {
        return Some(QUANTITY_NUMERIC);
    }
    let exponent = suffix
        .strip_prefix(['e', 'E'])
        .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
        .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()));
    if !SUFFIXES.contains(&suffix) && !exponent {
        return Some(QUANTITY_SUFFIX);
    }
    None
}

fn containers(spec: &Value) -> impl Iterator<Item = (String, &Value)> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |key| {
            spec[key]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(move |(i, c)| (format!("spec.{key}[{i}]"), c))
        })
}

/// The `requests` and `limits` of a `resources` at `path`.
fn resource_lists<'a>(path: &str, res: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    for kind in ["requests", "limits"] {
        for (k, v) in res[kind].as_object().into_iter().flatten() {
            out.push((format!("{path}.{kind}[{k}]"), v));
        }
    }
}

/// Every quantity-typed value of a pod, with its path.
fn quantities(pod: &Value) -> Vec<(String, &Value)> {
    let spec = &pod["spec"];
    let mut out = Vec::new();
    for (path, c) in containers(spec) {
        resource_lists(&format!("{path}.resources"), &c["resources"], &mut out);
        for (i, e) in c["env"].as_array().into_iter().flatten().enumerate() {
            let d = &e["valueFrom"]["resourceFieldRef"]["divisor"];
            if !d.is_null() {
                out.push((
                    format!("{path}.env[{i}].valueFrom.resourceFieldRef.divisor"),
                    d,
                ));
            }
        }
    }
    resource_lists("spec.resources", &spec["resources"], &mut out);
    for (k, v) in spec["overhead"].as_object().into_iter().flatten() {
        out.push((format!("spec.overhead[{k}]"), v));
    }
    for (i, vol) in spec["volumes"].as_array().into_iter().flatten().enumerate() {
        let limit = &vol["emptyDir"]["sizeLimit"];
        if !limit.is_null() {
            out.push((format!("spec.volumes[{i}].emptyDir.sizeLimit"), limit));
        }
        let mut items: Vec<&Value> = vol["downwardAPI"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        for source in vol["projected"]["sources"].as_array().into_iter().flatten() {
            items.extend(
                source["downwardAPI"]["items"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            );
        }
        for item in items {
            let d = &item["resourceFieldRef"]["divisor"];
            if !d.is_null() {
                out.push((
                    format!("spec.volumes[{i}].downwardAPI.items.resourceFieldRef.divisor"),
                    d,
                ));
            }
        }
    }
    out
}

/// The decode error of a pod whose quantities are not quantities: the Go
/// decoder fails on the first, before validation.
pub fn quantity_decode_error(pod: &Value) -> Option<&'static str> {
    quantities(pod).into_iter().find_map(|(_, v)| match v {
        Value::String(s) => quantity_error(s),
        Value::Number(_) => None,
        _ => Some(QUANTITY_FORMAT),
    })
}

/// `ValidateResourceQuantityValue`: requests and limits are not negative.
fn negative_quantities(pod: &Value, errs: &mut Vec<FieldError>) {
    for (path, v) in quantities(pod) {
        if path.contains(".divisor") {
            continue;
        }
        let negative = match v {
            Value::String(s) => {
                s.starts_with('-')
                    && s.trim_start_matches(['-', '0', '.'])
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit())
            }
            Value::Number(n) => n.as_f64().is_some_and(|f| f < 0.0),
            _ => false,
        };
        if negative {
            errs.push(FieldError::invalid(
                path,
                v.clone(),
                "must be greater than or equal to 0",
            ));
        }
    }
}

/// `validateContainerPorts` (hostPort) and `validateVolumeMounts` (names).
fn ports_and_mounts(spec: &Value, errs: &mut Vec<FieldError>) {
    let volumes: Vec<&str> = spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for (path, c) in containers(spec) {
        for (j, p) in c["ports"].as_array().into_iter().flatten().enumerate() {
            let host = p["hostPort"].as_i64().unwrap_or(0);
            if host != 0 && !(1..=65535).contains(&host) {
                errs.push(FieldError::invalid(
                    format!("{path}.ports[{j}].hostPort"),
                    json!(host),
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        for (j, m) in c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = m["name"].as_str().unwrap_or_default();
            if !name.is_empty() && !volumes.contains(&name) {
                errs.push(FieldError::not_found(
                    format!("{path}.volumeMounts[{j}].name"),
                    json!(name),
                ));
            }
        }
    }
}

/// `ValidateAnnotationsSize`: keys and values together.
pub fn annotations_size(meta: &Value, errs: &mut Vec<FieldError>) {
    let total: usize = meta["annotations"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if total > ANNOTATIONS_MAX_BYTES {
        errs.push(FieldError::too_long(
            "metadata.annotations",
            ANNOTATIONS_MAX_BYTES,
        ));
    }
}

/// The pod checks of this module that are validation errors (422).
pub fn validate_pod(pod: &Value, errs: &mut Vec<FieldError>) {
    ports_and_mounts(&pod["spec"], errs);
    negative_quantities(pod, errs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantity_grammar_is_resource_parse_quantitys() {
        for ok in [
            "1", "100m", "1.5Gi", "2e3", "1E-3", "+1", "-1", ".5", "5.", "7n", "1Ei",
        ] {
            assert_eq!(quantity_error(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("abc", QUANTITY_FORMAT),
            ("", QUANTITY_FORMAT),
            ("1 cpu", QUANTITY_FORMAT),
            ("1Zi", QUANTITY_FORMAT),
            ("1.2.3", QUANTITY_NUMERIC),
            (".", QUANTITY_NUMERIC),
            ("1Kk", QUANTITY_SUFFIX),
            ("1mi", QUANTITY_SUFFIX),
        ] {
            assert_eq!(quantity_error(bad), Some(why), "{bad}");
        }
    }

    #[test]
    fn pods_are_checked_as_kube_apiserver_does() {
        let pod = json!({"metadata": {"annotations": {"a": "x".repeat(ANNOTATIONS_MAX_BYTES)}},
            "spec": {"containers": [{"name": "c", "image": "i",
                "ports": [{"containerPort": 80, "hostPort": 70000}, {"containerPort": 81, "hostPort": 0}],
                "volumeMounts": [{"name": "nope", "mountPath": "/x"}],
                "resources": {"requests": {"cpu": "-1", "memory": "0"}}}]}});
        let mut errs = Vec::new();
        validate_pod(&pod, &mut errs);
        annotations_size(&pod["metadata"], &mut errs);
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].volumeMounts[0].name: Not found: \"nope\"",
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                "metadata.annotations: Too long: may not be more than 262144 bytes",
            ]
        );
        let bad = json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "two"}}}]}});
        assert_eq!(quantity_decode_error(&bad), Some(QUANTITY_FORMAT));
        assert_eq!(quantity_decode_error(&pod), None);
    }
}
