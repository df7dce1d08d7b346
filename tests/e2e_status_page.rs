//! The framework's status page in a real browser: headless Chromium (the
//! Debian `chromium` package, which `scripts/test` installs) loads it from
//! the `webui_url` the framework gave Mesos, against a `kube-mesos local`
//! cluster with a running, a failed and two unschedulable pods, and the
//! test reads the DOM as the browser built it after the page's own refresh
//! ran. A screenshot is kept under `target/status-page/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{http_get, repo_root, wait_for, Local, WAIT};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Text an operator cannot be trusted with: markup and both quotes. It
/// reaches the page through a Node taint's value, which kube-mesos names in
/// its FailedScheduling messages as kube-scheduler does.
const HOSTILE: &str = "<script>document.title='pwned'</script>\"'<b>x</b>";
/// Longest Chromium run; a hang guard.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn pod_yaml(name: &str, cpu: &str, restart: &str, script: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: {restart}\n{extra_spec}  containers:\n  - name: main\n    image: busybox\n    command: [\"sh\", \"-c\", \"{script}\"]\n    resources:\n      requests:\n        cpu: {cpu}\n        memory: 16Mi\n"
    )
}

/// Runs Chromium headless with the flags this machine's closed network
/// needs and a fresh profile; its stdout.
fn chromium(profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromium");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    loop {
        if child.try_wait().expect("waiting for chromium").is_some() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium ran longer than {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    reader.join().expect("reading chromium's output")
}

/// The HTML of `<section id="{id}">` in the dumped DOM.
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("<section id=\"{id}\">");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no section {id} in the DOM:\n{dom}"));
    let end = dom[start..]
        .find("</section>")
        .map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

fn status_json(url: &str) -> serde_json::Value {
    let body = http_get(url, "/status.json").expect("GET status.json");
    serde_json::from_str(&body).expect("status.json is JSON")
}

fn pending_reason(status: &serde_json::Value, name: &str) -> Option<String> {
    status["core"]["pending"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?["last_failed_scheduling"]
        .as_str()
        .map(str::to_owned)
}

#[test]
fn status_page_shows_the_scheduler_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: `apt-get install chromium` (scripts/test installs it)"
    );
    let local = Local::start(2, &[]);

    // The URL the framework gave Mesos as its web UI.
    let state: serde_json::Value = serde_json::from_str(
        &http_get(&local.mesos_master, "/master/state").expect("master state"),
    )
    .expect("master state JSON");
    let framework = &state["frameworks"][0];
    let framework_id = framework["id"].as_str().expect("framework ID").to_owned();
    let url = framework["webui_url"]
        .as_str()
        .expect("webui_url")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "webui_url {url}");

    // A hostile taint on agent-1 and its FailedScheduling message.
    let taint = serde_json::json!({"spec": {"taints": [
        {"key": "example.com/hostile", "value": HOSTILE, "effect": "NoSchedule"}
    ]}});
    local.kubectl_ok(&[
        "patch",
        "node",
        "agent-1",
        "--type",
        "merge",
        "-p",
        &taint.to_string(),
    ]);
    local.apply_yaml(
        "status-running",
        &pod_yaml(
            "status-running",
            "100m",
            "Always",
            "trap 'exit 0' TERM; while true; do sleep 1; done",
            "",
        ),
    );
    local.apply_yaml(
        "status-failing",
        &pod_yaml("status-failing", "100m", "Never", "exit 3", ""),
    );
    local.apply_yaml(
        "status-huge",
        &pod_yaml("status-huge", "64", "Always", "sleep 3600", ""),
    );
    local.apply_yaml(
        "status-tainted",
        &pod_yaml(
            "status-tainted",
            "100m",
            "Always",
            "sleep 3600",
            "  nodeSelector:\n    kubernetes.io/hostname: agent-1\n",
        ),
    );
    local.wait_status("status-running", "Running", WAIT);
    local.wait_status("status-failing", "Error", WAIT);
    let diagnostics = || local.diagnostics();
    // Named once an offer with room for no 64 cpus was weighed: a round
    // that saw only the tainted agent's offer says taint and "no resources
    // offered" instead.
    let huge_reason = wait_for(
        "status-huge's FailedScheduling naming Insufficient cpu on the status page",
        WAIT,
        || {
            pending_reason(&status_json(&url), "status-huge")
                .filter(|r| r.contains("Insufficient cpu"))
        },
        diagnostics,
    );
    assert!(huge_reason.contains("Insufficient cpu"), "{huge_reason}");
    // Named once an offer of agent-1 was weighed too (one agent's offers
    // may come alone).
    let tainted_reason = wait_for(
        "status-tainted's FailedScheduling naming agent-1's taint",
        WAIT,
        || {
            pending_reason(&status_json(&url), "status-tainted")
                .filter(|r| r.contains("untolerated taint"))
        },
        || local.diagnostics(),
    );
    assert!(tainted_reason.contains(HOSTILE), "{tainted_reason}");

    // The browser: the DOM once the page's own refresh has run (virtual
    // time runs the refresh timer without waiting for it), and a
    // screenshot.
    let profile = tempfile::tempdir().expect("profile dir");
    let dom = chromium(
        profile.path(),
        &[
            "--virtual-time-budget=10000".into(),
            "--dump-dom".into(),
            url.clone(),
        ],
    );
    assert!(
        dom.contains("data-refreshed=\"") && !dom.contains("data-refreshed=\"0\""),
        "the page did not refresh itself:\n{dom}"
    );
    assert!(dom.contains("<title>kube-mesos status</title>"), "{dom}");
    // Our one script and no other; the hostile text is text.
    assert_eq!(dom.matches("<script").count(), 1, "{dom}");
    assert!(!dom.contains("<b>x</b>"), "{dom}");
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;\"'&lt;b&gt;x&lt;/b&gt;"),
        "{dom}"
    );

    let framework_section = section(&dom, "framework");
    assert!(
        framework_section.contains(&framework_id),
        "{framework_section}"
    );
    assert!(framework_section.contains("leader"), "{framework_section}");

    let pending = section(&dom, "pending");
    for pod in ["status-huge", "status-tainted"] {
        assert!(
            pending.contains(&format!("data-pod=\"default/{pod}\"")),
            "{pending}"
        );
    }
    for pod in ["status-running", "status-failing"] {
        assert!(!pending.contains(pod), "{pod} is not pending:\n{pending}");
    }
    assert!(pending.contains("Insufficient cpu"), "{pending}");
    assert!(pending.contains("had untolerated taint"), "{pending}");

    let agents = section(&dom, "agents");
    for node in ["agent-0", "agent-1"] {
        assert!(
            agents.contains(&format!("data-node=\"{node}\"")),
            "{agents}"
        );
    }
    assert!(
        agents.contains("<td class=\"maintenance\">none</td>"),
        "{agents}"
    );
    assert!(agents.contains("kube-mesos-"), "executor ID: {agents}");
    assert!(agents.contains("current, 1 pod"), "{agents}");

    let offers = section(&dom, "offers");
    assert!(offers.contains("id=\"offer-interest\""), "{offers}");

    let recent = section(&dom, "recent");
    assert!(recent.contains("default/status-running"), "{recent}");
    assert!(recent.contains("TASK_RUNNING"), "{recent}");
    assert!(recent.contains("default/status-failing"), "{recent}");
    assert!(recent.contains("TASK_FAILED"), "{recent}");
    assert!(recent.contains("Placed"), "{recent}");
    assert!(recent.contains("FailedScheduling"), "{recent}");

    // The screenshot, kept as an artifact.
    let dir = repo_root().join("target").join("status-page");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    let shot: PathBuf = dir.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().expect("profile dir");
    chromium(
        profile.path(),
        &[
            "--window-size=1440,1100".into(),
            "--virtual-time-budget=4000".into(),
            format!("--screenshot={}", shot.display()),
            url,
        ],
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    println!("status page screenshot: {}", shot.display());
}
