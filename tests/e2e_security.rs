//! Pods run as the user they ask for, end to end under `kube-mesos local`
//! (process runtime): `runAsUser`, `runAsGroup` and `fsGroup` reach the
//! container's processes and `kubectl exec`, a secret volume is readable
//! through `fsGroup` by the pod and by nobody else on the host, and a pod
//! whose `runAsNonRoot` cannot be honoured waits with the kubelet's
//! reason instead of running as root.

mod support;

use std::os::unix::fs::MetadataExt;

use support::*;

const PODS: &str = "apiVersion: v1
kind: Secret
metadata:
  name: token
stringData:
  key: not-for-others
---
apiVersion: v1
kind: Pod
metadata:
  name: as-user
spec:
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\"; test -r secret/key && echo secret-readable; sleep 3600']
    volumeMounts:
    - {name: s, mountPath: secret}
  volumes:
  - name: s
    secret: {secretName: token, defaultMode: 0440}
---
apiVersion: v1
kind: Pod
metadata:
  name: non-root
spec:
  securityContext:
    runAsNonRoot: true
  containers:
  - name: c
    image: busybox
    command: [sleep, '3600']
";

#[test]
fn pods_run_as_the_user_they_ask_for() {
    // /proc/self belongs to the effective user.
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("not root: the process runtime cannot change users; skipping");
        return;
    }
    let local = Local::start(1, &[]);
    local.apply_yaml("security", PODS);
    local.wait_status("as-user", "Running", WAIT);
    let logs = wait_for(
        "the container's identity in its log",
        WAIT,
        || {
            let (ok, out, _) = local.kubectl(&["logs", "as-user"]);
            (ok && out.contains("secret-readable")).then_some(out)
        },
        || local.diagnostics_for("as-user"),
    );
    assert!(
        logs.contains("uid=1000 gid=3000 groups=3000 2000"),
        "{logs}"
    );
    let exec = local.kubectl_ok(&["exec", "as-user", "--", "id", "-u"]);
    assert_eq!(exec.trim(), "1000");

    // On the host: the sandbox is the pod's user's and fsGroup's, closed
    // to everyone else; the secret belongs to the fsGroup.
    let pod = local.pod_json("as-user").expect("pod");
    let sandbox = local.pod_sandbox(&uid_of(&pod));
    let meta = std::fs::metadata(&sandbox).expect("sandbox");
    assert_eq!((meta.uid(), meta.gid()), (1000, 2000));
    assert_eq!(
        meta.mode() & 0o007,
        0,
        "the sandbox is not world-accessible"
    );
    let secret = std::fs::metadata(sandbox.join("volumes/s/key")).expect("secret file");
    assert_eq!(secret.gid(), 2000);
    assert_eq!(
        secret.mode() & 0o077,
        0o040,
        "group-readable, nothing for others"
    );

    // runAsNonRoot without a user: the process runtime would run it as
    // root (the executor's user), so it does not start.
    let message = wait_for(
        "non-root refused",
        WAIT,
        || {
            let pod = local.pod_json("non-root")?;
            let waiting = &pod["status"]["containerStatuses"][0]["state"]["waiting"];
            (waiting["reason"] == "CreateContainerConfigError")
                .then(|| waiting["message"].as_str().unwrap_or_default().to_string())
        },
        || local.diagnostics_for("non-root"),
    );
    assert!(
        message.contains("container has runAsNonRoot and image will run as root"),
        "{message}"
    );
}
