//! A private containerd for one test: its own root, state dir, socket,
//! config (CRI plugin with a busybox pause image, CNI bridge + host-local +
//! portmap + loopback on a private subnet and a bridge of its own) in a
//! temp dir. Dropping it removes what the test left, stops containerd and
//! its shims (by the pids recorded here and found under its socket),
//! unmounts what it mounted and deletes the bridge and cgroups.
//!
//! containerd, runc and the CNI plugins come from Debian packages
//! (`scripts/test` installs them). A machine that cannot run them fails the
//! test with the reason, never skips it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use kube_mesos_executor::runner::cri::client::CriClient;
use kube_mesos_executor::runner::cri::proto;

#[path = "containerd_image.rs"]
pub mod image;

/// The CNI plugins' directory in Debian's `containernetworking-plugins`.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// The image every test container runs.
pub const BUSYBOX_IMAGE: &str = "kube-mesos.local/busybox:test";
/// The sandbox image named in the CRI config: busybox sleeping forever.
pub const PAUSE_IMAGE: &str = "kube-mesos.local/pause:test";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running private containerd.
pub struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    socket: PathBuf,
    /// The bridge the CNI config creates.
    pub bridge: String,
    /// The pod subnet (`10.88.N.0/24`).
    pub subnet: String,
    /// Cgroup parent (cgroupfs syntax) for the test's pods.
    pub cgroup_parent: String,
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install the Debian package `{package}` (scripts/test does)"
    );
}

impl Containerd {
    /// Starts containerd, waits for its CRI service, imports the busybox
    /// and pause images. Panics with the reason if anything is missing.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`Containerd::start`], with plain-HTTP registries on loopback
    /// (`127.0.0.1:<port>`) that the CRI plugin may pull from.
    pub async fn start_with(http_registries: &[String]) -> Self {
        require("/usr/bin/containerd", "containerd");
        require("/usr/bin/ctr", "containerd");
        require("/usr/sbin/runc", "runc");
        require(
            &format!("{CNI_BIN_DIR}/bridge"),
            "containernetworking-plugins",
        );
        require(image::BUSYBOX, "busybox-static");
        assert!(
            std::fs::read_to_string("/proc/self/status").is_ok_and(|s| s
                .lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))),
            "the containerd tests need root (containerd, runc and the CNI bridge do)"
        );

        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{:x}{:x}", std::process::id() & 0xffff, n);
        let octet = (std::process::id() + n * 37) % 200 + 20;
        let dir = tempfile::Builder::new()
            .prefix("kmcd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let bridge = format!("kmt{tag}");
        let subnet = format!("10.88.{octet}.0/24");
        let cgroup_parent = format!("/kube-mesos-test-{tag}");

        std::fs::create_dir_all(d.join("cni")).expect("cni dir");
        let conflist = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": format!("kmtest-{tag}"),
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": true,
                    "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": d.join("ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": true}},
                {"type": "loopback"},
            ],
        });
        std::fs::write(
            d.join("cni/10-kmtest.conflist"),
            serde_json::to_vec_pretty(&conflist).expect("conflist"),
        )
        .expect("write conflist");
        let config = format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which root may lack (it
  # does on the build VMs): clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}"
{registries}"#,
            registries = http_registries
                .iter()
                .map(|r| format!(
                    "  [plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"{r}\"]\n    endpoint = [\"http://{r}\"]\n"
                ))
                .collect::<String>(),
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = socket.display(),
            opt = d.join("opt").display(),
            cni = d.join("cni").display(),
        );
        std::fs::write(d.join("config.toml"), config).expect("write config");
        let log = std::fs::File::create(d.join("containerd.log")).expect("log file");
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new("/usr/bin/containerd")
                .arg("--config")
                .arg(d.join("config.toml"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log fd"))
                .stderr(log)
                .process_group(0)
                .spawn()
                .expect("spawn containerd")
        };
        let mut cd = Self {
            dir,
            child: Some(child),
            socket,
            bridge,
            subnet,
            cgroup_parent,
        };
        cd.wait_ready().await;
        let busybox = image::busybox_image(cd.dir.path(), BUSYBOX_IMAGE, &["/bin/sh"], &[]);
        let pause =
            image::busybox_image(cd.dir.path(), PAUSE_IMAGE, &["/bin/sleep"], &["2147483647"]);
        cd.import(&pause, PAUSE_IMAGE).await;
        cd.import(&busybox, BUSYBOX_IMAGE).await;
        cd
    }

    /// The CRI socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The temp dir (root for runtime state and logs in tests).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// containerd's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    /// The end of containerd's log and of every shim's `log.json` (runc's
    /// errors land there), for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut out = self.tail_log();
        let mut stack = vec![self.dir.path().join("state")];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                } else if p.file_name().is_some_and(|n| n == "log.json") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    out.push_str(&format!("\n--- {}\n{}", p.display(), text));
                }
            }
        }
        out
    }

    fn tail_log(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    async fn wait_ready(&mut self) {
        let client = CriClient::new(&self.socket);
        for _ in 0..200 {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "containerd exited at start ({status}); its log:\n{}",
                        self.tail_log()
                    );
                }
            }
            let mut rt = client.runtime.clone();
            if let Ok(status) = rt.status(proto::StatusRequest { verbose: false }).await {
                let ready = status
                    .into_inner()
                    .status
                    .map(|s| s.conditions.iter().all(|c| c.status))
                    .unwrap_or(false);
                if ready {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "containerd's CRI service did not become ready in 20 s; its log:\n{}",
            self.tail_log()
        );
    }

    /// Imports an OCI tarball into the `k8s.io` namespace and waits until
    /// CRI's image store sees `name`.
    pub async fn import(&self, tar: &Path, name: &str) {
        let out = Command::new("/usr/bin/ctr")
            .arg("--address")
            .arg(&self.socket)
            .args([
                "-n",
                "k8s.io",
                "images",
                "import",
                "--snapshotter",
                "overlayfs",
            ])
            .arg(tar)
            .output()
            .expect("run ctr");
        assert!(
            out.status.success(),
            "ctr images import {}: {}{}",
            tar.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let client = CriClient::new(&self.socket);
        for _ in 0..100 {
            let mut img = client.image.clone();
            let status = img
                .image_status(proto::ImageStatusRequest {
                    image: Some(proto::ImageSpec {
                        image: name.to_string(),
                        ..Default::default()
                    }),
                    verbose: false,
                })
                .await;
            if status.is_ok_and(|s| s.into_inner().image.is_some()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("image {name} imported but CRI does not see it");
    }

    /// Pids of the shims serving this containerd (their command line names
    /// our socket).
    fn shim_pids(&self) -> Vec<i32> {
        let needle = self.socket.to_string_lossy().into_owned();
        let mut pids = Vec::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return pids;
        };
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            if cmd.contains("containerd-shim") && cmd.contains(&needle) {
                pids.push(pid);
            }
        }
        pids
    }

    fn cleanup(&mut self) {
        use nix::sys::signal::{kill, killpg, Signal};
        use nix::unistd::Pid;
        let shims = self.shim_pids();
        if let Some(mut child) = self.child.take() {
            let pgid = Pid::from_raw(child.id() as i32);
            let _ = killpg(pgid, Signal::SIGTERM);
            for _ in 0..50 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = killpg(pgid, Signal::SIGKILL);
            let _ = child.wait();
        }
        // Containers outlive containerd and their shims by design (a test
        // that panicked never removed its pods): every process in our
        // cgroup parent is one of this test's containers.
        for _ in 0..50 {
            let pids = self.cgroup_pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The shims are ours too, found by our socket in their arguments.
        for pid in shims {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(200));
        // Unmount everything under the temp dir, deepest first.
        let root = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&root))
            .map(str::to_string)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        // Cgroups runc created under our parent (cgroup v1 controllers and v2).
        if let Ok(ctrls) = std::fs::read_dir("/sys/fs/cgroup") {
            for c in ctrls.flatten() {
                let parent = c.path().join(self.cgroup_parent.trim_start_matches('/'));
                remove_cgroup_tree(&parent);
            }
        }
        let unified = Path::new("/sys/fs/cgroup").join(self.cgroup_parent.trim_start_matches('/'));
        remove_cgroup_tree(&unified);
    }
}

impl Containerd {
    /// Pids in any cgroup under our parent (the `pids` hierarchy on cgroup
    /// v1, the unified one on v2).
    pub fn cgroup_pids(&self) -> Vec<i32> {
        let rel = self.cgroup_parent.trim_start_matches('/');
        let mut pids = Vec::new();
        for root in [
            "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup",
        ] {
            let mut stack = vec![Path::new(root).join(rel)];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

fn remove_cgroup_tree(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for c in children.flatten() {
            if c.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&c.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for Containerd {
    fn drop(&mut self) {
        self.cleanup();
    }
}
