//! End-to-end: malformed and hostile pods, each tried with kubectl against
//! `kube-mesos local`. Nothing may panic, each gets a clear answer in the
//! words kube-apiserver, kube-scheduler or the kubelet use, and no other
//! pod is held up by it (a canary pod created after them all runs).
//!
//! Where each row is decided: what a real kube-apiserver refuses at
//! admission, our devcluster API server refuses with the same status and
//! message (`admission`: kubectl fails); everything it accepts reaches the
//! framework and the executor, which must cope (`runtime`).
//!
//! | row | input | decided by | answer |
//! |---|---|---|---|
//! | `bad-quantity` | `cpu: "two"` | admission (decode) | 400 `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'` |
//! | `negative-quantity` | `cpu: "-1"` | admission | 422 `spec.containers[0].resources.requests[cpu]: Invalid value: "-1": must be greater than or equal to 0` |
//! | `many-containers` | 1,000 containers | runtime | runs to `Succeeded` with 1,000 container statuses |
//! | `big-env-apply` | a 1 MB env value, `kubectl apply` | admission | 422 `metadata.annotations: Too long: may not be more than 262144 bytes` (kubectl's last-applied annotation) |
//! | `big-env` | a 1 MB env value, `kubectl create` | runtime (executor) | container `StartError`, message `Argument list too long` (Linux caps one env string at 128 KiB), pod `Failed`, event `Failed` `Error: ...` |
//! | `dup-names` | two containers named `c` | admission | 422 `spec.containers[1].name: Duplicate value: "c"` |
//! | `host-port-0` | `hostPort: 0` | runtime | valid (no host port): runs |
//! | `host-port-70000` | `hostPort: 70000` | admission | 422 `spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive` |
//! | `n` × 253 | a 253-character name | runtime | valid: runs, `kubectl logs` works (the kubelet's `<ns>_<name>_<uid>` log directory would be too long a file name, and client-go's `<name>.<hex>` event name too long a name: both are cut to fit) |
//! | `n` × 254 | a 254-character name | admission | 422 `metadata.name: Invalid value: ...: must be no more than 253 characters` |
//! | `pödé` | a non-ASCII name | admission | 422 `a lowercase RFC 1123 subdomain must consist of ...` |
//! | `unknown-field` | `bogus: 1` in a container | admission (kubectl asks `fieldValidation=Strict`) | 400 `strict decoding error: unknown field "spec.containers[0].bogus"` |
//! | `unknown-field-ignored` | the same with `--validate=false` | runtime | the field is dropped, the pod runs |
//! | `no-image` | no `image` | admission | 422 `spec.containers[0].image: Required value` |
//! | `no-command` | no `command` (process runtime: no image entrypoint) | runtime (executor) | waiting `CreateContainerConfigError`: `the process runtime has no images: the container needs a `command` (or `args`)` |
//! | `no-volume` | a volumeMount naming no volume | admission | 422 `spec.containers[0].volumeMounts[0].name: Not found: "nope"` |
//! | `missing-configmap` | a configMap volume of a ConfigMap that does not exist | runtime (executor) | `ContainerCreating`, event `FailedMount` `MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found` |
//! | `million-cpus` | requests 10^6 cpus | runtime (framework) | `Pending`, event `FailedScheduling` `0/1 nodes are available: 1 Insufficient cpu.` |

mod support;

use serde_json::{json, Value};
use support::{wait_for, Local, WAIT};

fn container(name: &str) -> Value {
    json!({"name": name, "image": "busybox", "command": ["sh", "-c", "echo up; sleep 3600"]})
}

fn pod(name: &str, containers: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"containers": containers, "terminationGracePeriodSeconds": 1}})
}

/// Writes `manifest` and runs `kubectl <verb> -f` on it.
fn kubectl_file(
    local: &Local,
    verb: &[&str],
    name: &str,
    manifest: &Value,
) -> (bool, String, String) {
    let path = local
        .dir()
        .join(format!("{}.json", &name[..name.len().min(40)]));
    std::fs::write(&path, manifest.to_string()).expect("writing a manifest");
    let mut args = verb.to_vec();
    args.extend(["-f", path.to_str().expect("utf-8 path")]);
    local.kubectl(&args)
}

/// Asserts kubectl failed with `words` in its error.
fn refused(local: &Local, verb: &[&str], row: &str, manifest: &Value, words: &[&str]) {
    let (ok, out, err) = kubectl_file(local, verb, row, manifest);
    assert!(!ok, "{row}: accepted, but kube-apiserver refuses it: {out}");
    for w in words {
        assert!(err.contains(w), "{row}: the error lacks {w:?}:\n{err}");
    }
}

/// `manifest` with the field at `pointer` (its parent must exist) set.
fn with(mut manifest: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    manifest
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("the parent is an object")
        .insert(key.to_string(), value);
    manifest
}

#[test]
fn pods_refused_at_admission_get_kube_apiservers_words() {
    let local = Local::start(1, &[]);
    let c = container("c");
    let base = pod("x", vec![c.clone()]);
    let rows: Vec<(&str, &[&str], Value, Vec<&str>)> = vec![
        (
            "bad-quantity",
            &["apply"],
            with(base.clone(), "/spec/containers/0/resources", json!({"requests": {"cpu": "two"}})),
            vec![
                "Pod in version \"v1\" cannot be handled as a Pod",
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ],
        ),
        (
            "negative-quantity",
            &["apply"],
            with(base.clone(), "/spec/containers/0/resources", json!({"requests": {"cpu": "-1"}})),
            vec!["spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"],
        ),
        (
            "big-env-apply",
            &["apply"],
            with(base.clone(), "/spec/containers/0/env", json!([{"name": "BIG", "value": "x".repeat(1 << 20)}])),
            vec!["metadata.annotations: Too long: may not be more than 262144 bytes"],
        ),
        (
            "dup-names",
            &["apply"],
            pod("dup-names", vec![c.clone(), c.clone()]),
            vec!["spec.containers[1].name: Duplicate value: \"c\""],
        ),
        (
            "host-port-70000",
            &["apply"],
            with(base.clone(), "/spec/containers/0/ports", json!([{"containerPort": 80, "hostPort": 70000}])),
            vec!["spec.containers[0].ports[0].hostPort: Invalid value: 70000: must be between 1 and 65535, inclusive"],
        ),
        (
            "name-254",
            &["apply"],
            with(base.clone(), "/metadata/name", json!("n".repeat(254))),
            vec!["metadata.name: Invalid value:", "must be no more than 253 characters"],
        ),
        (
            "non-ascii",
            &["apply"],
            with(base.clone(), "/metadata/name", json!("pödé")),
            vec!["metadata.name: Invalid value: \"pödé\": a lowercase RFC 1123 subdomain must consist of"],
        ),
        (
            "unknown-field",
            &["apply"],
            with(base.clone(), "/spec/containers/0/bogus", json!(1)),
            vec!["strict decoding error: unknown field \"spec.containers[0].bogus\""],
        ),
        (
            "no-image",
            &["apply"],
            pod("no-image", vec![json!({"name": "c", "command": ["true"]})]),
            vec!["spec.containers[0].image: Required value"],
        ),
        (
            "no-volume",
            &["apply"],
            with(base.clone(), "/spec/containers/0/volumeMounts", json!([{"name": "nope", "mountPath": "/x"}])),
            vec!["spec.containers[0].volumeMounts[0].name: Not found: \"nope\""],
        ),
    ];
    for (row, verb, manifest, words) in &rows {
        refused(&local, verb, row, manifest, words);
    }
    let (_, pods, _) = local.kubectl(&["get", "pods", "-o", "name"]);
    assert!(pods.trim().is_empty(), "a refused pod was stored: {pods}");
}

fn phase(local: &Local, name: &str) -> Option<String> {
    local
        .pod_json(name)
        .and_then(|p| p["status"]["phase"].as_str().map(str::to_string))
}

fn wait_event(local: &Local, name: &str, words: &str) {
    wait_for(
        &format!("an event on {name} saying {words:?}"),
        WAIT,
        || local.describe(name).contains(words).then_some(()),
        || local.diagnostics_for(name),
    );
}

#[test]
fn pods_that_reach_the_framework_and_executor_get_clear_statuses_and_delay_no_one() {
    let local = Local::start(1, &[]);
    let long_name = "n".repeat(253);
    let many: Vec<Value> = (0..1000)
        .map(|i| json!({"name": format!("c{i}"), "image": "busybox", "command": ["true"]}))
        .collect();
    let mut many_pod = pod("many-containers", many);
    many_pod["spec"]["restartPolicy"] = json!("Never");
    let mut big_env = with(
        pod("big-env", vec![container("c")]),
        "/spec/containers/0/env",
        json!([{"name": "BIG", "value": "x".repeat(1 << 20)}]),
    );
    big_env["spec"]["restartPolicy"] = json!("Never");
    let created: Vec<(&str, &[&str], Value)> = vec![
        ("many-containers", &["create"], many_pod),
        ("big-env", &["create"], big_env),
        (
            "host-port-0",
            &["apply"],
            with(
                pod("host-port-0", vec![container("c")]),
                "/spec/containers/0/ports",
                json!([{"containerPort": 80, "hostPort": 0}]),
            ),
        ),
        (
            &long_name,
            &["apply"],
            pod(&long_name, vec![container("c")]),
        ),
        (
            "unknown-field-ignored",
            &["apply", "--validate=false"],
            with(
                pod("unknown-field-ignored", vec![container("c")]),
                "/spec/containers/0/bogus",
                json!(1),
            ),
        ),
        (
            "no-command",
            &["apply"],
            pod("no-command", vec![json!({"name": "c", "image": "busybox"})]),
        ),
        (
            "missing-configmap",
            &["apply"],
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "missing-configmap"},
                   "spec": {"containers": [with(container("c"), "/volumeMounts", json!([{"name": "cfg", "mountPath": "cfg"}]))],
                            "volumes": [{"name": "cfg", "configMap": {"name": "nope"}}]}}),
        ),
        (
            "million-cpus",
            &["apply"],
            with(
                pod("million-cpus", vec![container("c")]),
                "/spec/containers/0/resources",
                json!({"requests": {"cpu": "1000000"}}),
            ),
        ),
    ];
    for (row, verb, manifest) in &created {
        let (ok, _, err) = kubectl_file(&local, verb, row, manifest);
        assert!(ok, "{row}: kube-apiserver accepts it, ours refused: {err}");
    }
    // The canary comes last: it must not wait behind any of them.
    local.apply_yaml(
        "canary",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: canary\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo up; sleep 3600\"]\n",
    );
    local.wait_status("canary", "Running", WAIT);

    for name in ["host-port-0", long_name.as_str(), "unknown-field-ignored"] {
        local.wait_status(name, "Running", WAIT);
        wait_for(
            &format!("kubectl logs {name}"),
            WAIT,
            || {
                let (ok, out, _) = local.kubectl(&["logs", name]);
                (ok && out.contains("up")).then_some(())
            },
            || local.diagnostics_for(name),
        );
    }
    let ignored = local.pod_json("unknown-field-ignored").expect("pod");
    assert!(
        ignored["spec"]["containers"][0].get("bogus").is_none(),
        "the unknown field was dropped"
    );

    // A hang guard sized for 1,000 process starts on a busy 2-core machine.
    wait_for(
        "many-containers to succeed",
        WAIT * 5,
        || (phase(&local, "many-containers").as_deref() == Some("Succeeded")).then_some(()),
        || local.diagnostics_for("many-containers"),
    );
    let many = local.pod_json("many-containers").expect("pod");
    assert_eq!(
        many["status"]["containerStatuses"].as_array().map(Vec::len),
        Some(1000)
    );

    wait_for(
        "big-env to fail",
        WAIT,
        || (phase(&local, "big-env").as_deref() == Some("Failed")).then_some(()),
        || local.diagnostics_for("big-env"),
    );
    let big = local.pod_json("big-env").expect("pod");
    let terminated = &big["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["reason"], "StartError", "{big}");
    assert!(
        terminated["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Argument list too long"),
        "{big}"
    );
    wait_event(&local, "big-env", "Error: ");

    local.wait_status("no-command", "CreateContainerConfigError", WAIT);
    let nc = local.pod_json("no-command").expect("pod");
    assert_eq!(
        nc["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "the process runtime has no images: the container needs a `command` (or `args`)"
    );

    wait_event(
        &local,
        "missing-configmap",
        "MountVolume.SetUp failed for volume \"cfg\" : configmap \"nope\" not found",
    );
    assert_eq!(
        local.pod_status_column("missing-configmap").as_deref(),
        Some("ContainerCreating")
    );

    wait_event(
        &local,
        "million-cpus",
        "0/1 nodes are available: 1 Insufficient cpu.",
    );
    assert_eq!(phase(&local, "million-cpus").as_deref(), Some("Pending"));

    // Nothing panicked anywhere: the cluster's log and every executor's.
    let mut logs =
        std::fs::read_to_string(local.data_dir.join("kube-mesos-local.log")).unwrap_or_default();
    for stderr in support::find_files(&local.data_dir.join("agents"), "stderr") {
        logs.push_str(&std::fs::read_to_string(stderr).unwrap_or_default());
    }
    assert!(
        !logs.contains("panicked"),
        "a panic in the logs:\n{}",
        local.diagnostics()
    );
}
