//! No secret in sight. A `kube-mesos local` at debug level runs a pod that
//! takes a Secret as an environment variable and as a volume; then every
//! place an operator or a Mesos user can read is searched for the secret
//! values the cluster knows: the Secret's data, the admin's and the
//! framework's tokens, the executors' bootstrap token and their nodes'
//! private keys, and the framework's Mesos secret. Searched: the logs of
//! `kube-mesos local` (the API server, the Mesos master and agent, the
//! framework) and of the executors, `kube-mesos framework --check-config`,
//! and Mesos' `/master/state`, `/master/frameworks` and the agent's
//! `/state`, where ExecutorInfo and TaskInfo are visible to anyone who can
//! read Mesos. None may appear anywhere. (The rendered DC/OS app is
//! searched by `packaging/tests/check_dcos.py`, `tests/packaging_dcos.rs`.)

mod support;

use std::path::{Path, PathBuf};

use support::*;

fn hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

/// Every file named `stdout` or `stderr` below `dir` (Mesos sandboxes).
fn sandbox_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sandbox_logs(&path, out);
        } else if matches!(
            path.file_name().and_then(|n| n.to_str()),
            Some("stdout" | "stderr")
        ) {
            out.push(path);
        }
    }
}

/// The middle of the first base64 line of the PEM block `label` in `pem`:
/// a piece of the key no other text has.
fn pem_piece(pem: &str, label: &str) -> String {
    let begin = format!("-----BEGIN {label}-----");
    let body = pem.split(&begin).nth(1).expect("PEM block");
    let line = body.lines().find(|l| l.len() >= 48).expect("a full line");
    line[8..40].to_string()
}

#[test]
fn no_secret_value_appears_in_logs_check_config_or_mesos_state() {
    let mut local = Local::start_with_log(1, &[], "debug");
    let data = local.data_dir.clone();

    // The cluster's own credentials.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("local.json")).expect("local.json"))
            .expect("state");
    let bootstrap: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("bootstrap-kubeconfig")).expect("bootstrap kubeconfig"),
    )
    .expect("bootstrap kubeconfig JSON");
    let mut secrets: Vec<(&str, String)> = vec![
        ("admin token", state["token"].as_str().unwrap().to_string()),
        (
            "framework token",
            state["framework_token"].as_str().unwrap().to_string(),
        ),
        (
            "Mesos secret",
            state["mesos_secret"].as_str().unwrap().to_string(),
        ),
        (
            "bootstrap token secret",
            bootstrap["users"][0]["user"]["token"]
                .as_str()
                .unwrap()
                .split_once('.')
                .unwrap()
                .1
                .to_string(),
        ),
    ];

    // A Secret used as env and as a volume.
    let (env_value, file_value) = (format!("env-{}", hex(16)), format!("file-{}", hex(16)));
    secrets.push(("Secret data used as env", env_value.clone()));
    secrets.push(("Secret data used as a volume", file_value.clone()));
    local.apply_yaml(
        "secret-pod",
        &format!(
            "apiVersion: v1
kind: Secret
metadata:
  name: scan
stringData:
  env: {env_value}
  file: {file_value}
---
apiVersion: v1
kind: Pod
metadata:
  name: scan
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'test -s secret/file && test -n \"$FROM_SECRET\" && sleep 3600']
    env:
    - name: FROM_SECRET
      valueFrom:
        secretKeyRef: {{name: scan, key: env}}
    volumeMounts:
    - {{name: s, mountPath: secret}}
  volumes:
  - name: s
    secret: {{secretName: scan}}
"
        ),
    );
    local.wait_status("scan", "Running", WAIT);

    // The node's private key, made by its executor.
    let node_pem =
        std::fs::read_to_string(data.join("agents/0/kube-mesos/pki/kubelet-client-current.pem"))
            .expect("the executor's node certificate");
    secrets.push(("node private key", pem_piece(&node_pem, "PRIVATE KEY")));

    // What Mesos shows.
    let master = local.mesos_master.clone();
    let agent = local
        .stdout_lines()
        .iter()
        .find_map(|l| l.strip_prefix("agent: agent-0 (executor API "))
        .and_then(|rest| rest.split(',').next())
        .map(|addr| format!("http://{addr}"))
        .expect("the agent's address");
    let mut texts: Vec<(String, String)> = Vec::new();
    for (base, path) in [
        (&master, "/master/state"),
        (&master, "/master/frameworks"),
        (&agent, "/state"),
    ] {
        let body = http_get(base, path).unwrap_or_else(|| panic!("GET {base}{path}"));
        assert!(
            body.contains("kube-mesos"),
            "{path} shows the framework: {body}"
        );
        texts.push((format!("GET {path}"), body));
    }

    // --check-config of a production-like framework.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kube-mesos"))
        .args(["framework", "--check-config", "--master", &master])
        .arg("--kubeconfig")
        .arg(data.join("kubeconfig"))
        .args(["--mesos-principal", "kube-mesos", "--mesos-secret-file"])
        .arg(data.join("mesos-secret"))
        .arg("--executor-env")
        .arg(format!(
            "KUBE_MESOS_BOOTSTRAP_KUBECONFIG={}",
            data.join("bootstrap-kubeconfig").display()
        ))
        .env("RUST_LOG", "debug")
        .output()
        .expect("kube-mesos framework --check-config");
    assert!(out.status.success());
    texts.push((
        "framework --check-config".into(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ));

    // The logs, complete once everything stopped.
    assert!(local.stop(), "kube-mesos local stopped cleanly");
    let mut files = local.stderr_files();
    files.push(data.join("kube-mesos-local.log"));
    sandbox_logs(&data.join("agents"), &mut files);
    let debug_lines = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .map(|t| t.lines().filter(|l| l.contains("DEBUG")).count())
        .sum::<usize>();
    assert!(debug_lines > 100, "the logs are at debug level");
    for f in &files {
        texts.push((
            f.display().to_string(),
            std::fs::read_to_string(f).unwrap_or_default(),
        ));
    }
    assert!(
        texts.iter().any(|(name, _)| name.ends_with("/stderr")),
        "an executor's log was searched"
    );

    let mut found = Vec::new();
    for (what, value) in &secrets {
        assert!(value.len() >= 16, "{what} is too short to search for");
        for (name, text) in &texts {
            let hits = text.matches(value.as_str()).count();
            if hits > 0 {
                found.push(format!("{what}: {hits} time(s) in {name}"));
            }
        }
    }
    assert!(found.is_empty(), "secrets in sight:\n{}", found.join("\n"));
}
