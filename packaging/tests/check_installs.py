#!/usr/bin/env python3
"""Checks the plain-Mesos installs against the real binary: the systemd unit
and its env file, the Marathon app (without DC/OS) and the image recipe.

No systemd, Marathon or docker engine runs here, so each file is checked for
what would break it in production: the env file is fed to
`kube-mesos framework --check-config`, the Marathon app obeys Marathon's
single-instance rules and its cmd dry-runs in a fake sandbox (check_dcos's
dry run), and the Dockerfile copies the path scripts/release writes and
runs a subcommand the binary has.
"""

import argparse
import configparser
import json
import pathlib
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_dcos  # noqa: E402
from check_dcos import CheckFailed, fail  # noqa: E402

ROOT = check_dcos.ROOT
PKG = ROOT / "packaging"


def parse_env_file(path):
    env = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.match(r"^[A-Z_][A-Z0-9_]*$", key):
            fail(f"{path.name}:{n}: not KEY=VALUE")
        env[key] = value
    return env


def check_config(binary, env, args=()):
    proc = subprocess.run(
        [binary, "framework", "--check-config", *args],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        fail(f"--check-config rejected the configuration:\n{proc.stderr}")
    return check_dcos.parse_check_config(proc.stdout)


def check_known_env(binary, env, what):
    known = check_dcos.help_env_names(binary)
    for key in env:
        if key.startswith("KUBE_MESOS_") and key not in known:
            fail(f"{what}: {key} is no `kube-mesos framework` variable")
    executor = check_dcos.executor_env_names() | {"RUST_LOG"}
    for pair in filter(None, env.get("KUBE_MESOS_EXECUTOR_ENV", "").split(",")):
        if pair.split("=", 1)[0] not in executor:
            fail(f"{what}: executor variable {pair.split('=', 1)[0]} is no `kube-mesos executor` variable")


def check_systemd(binary):
    unit_path = PKG / "systemd" / "kube-mesos-framework.service"
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str
    unit.read(unit_path, encoding="utf-8")
    svc = unit["Service"]
    want = {
        "EnvironmentFile": "/etc/kube-mesos/framework.env",
        "Restart": "always",
        "ExecStart": "/usr/local/bin/kube-mesos framework",
        "KillSignal": "SIGTERM",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
    }
    for key, value in want.items():
        if svc.get(key) != value:
            fail(f"{unit_path.name}: {key}={svc.get(key)!r}, expected {value!r}")
    if unit["Install"].get("WantedBy") != "multi-user.target":
        fail(f"{unit_path.name}: WantedBy must be multi-user.target")
    # Hardening that still lets it work: it needs IPv4/6 sockets and must be
    # able to read /etc/kube-mesos; it writes nowhere.
    families = svc.get("RestrictAddressFamilies", "").split()
    if not {"AF_INET", "AF_INET6"} <= set(families):
        fail("RestrictAddressFamilies must allow AF_INET and AF_INET6")
    for key in ("InaccessiblePaths", "ReadWritePaths", "PrivateNetwork", "IPAddressDeny"):
        if key in svc:
            fail(f"{key} would cut the framework off from its config or the network")
    env = parse_env_file(PKG / "systemd" / "framework.env.example")
    check_known_env(binary, env, "framework.env.example")
    printed = check_config(binary, env)
    if printed.get("namespace") != "kube-mesos":
        fail("framework.env.example must use the namespace of packaging/kubernetes (kube-mesos)")
    print("ok: systemd unit and env file")


def check_marathon(binary):
    path = PKG / "marathon" / "kube-mesos.json"
    app = json.loads(path.read_text(encoding="utf-8"))
    if not check_dcos.MARATHON_ID.match(app["id"].lstrip("/")):
        fail(f"{path.name}: invalid app id")
    if app.get("labels", {}).get("MARATHON_SINGLE_INSTANCE_APP") != "true" or app.get("instances") != 1:
        fail(f"{path.name}: must be a single-instance app with 1 instance")
    strategy = app.get("upgradeStrategy", {})
    if strategy.get("minimumHealthCapacity") != 0 or strategy.get("maximumOverCapacity") != 0:
        fail(f"{path.name}: single-instance upgradeStrategy must be 0/0")
    hc = app["healthChecks"][0]
    if (hc["protocol"], hc["path"], hc["portIndex"]) != ("MESOS_HTTP", "/healthz", 0):
        fail(f"{path.name}: health check must be MESOS_HTTP /healthz on port index 0")
    check_known_env(binary, app["env"], path.name)
    if app["env"].get("KUBE_MESOS_EXECUTOR_URI") != app["fetch"][0]["uri"]:
        fail(f"{path.name}: executors must fetch the framework's tarball")
    with tempfile.TemporaryDirectory() as tmp:
        printed = check_dcos.dry_run(app, binary, None, pathlib.Path(tmp))
    if printed.get("namespace") != "kube-mesos":
        fail(f"{path.name}: namespace must be kube-mesos")
    print("ok: Marathon app (without DC/OS)")


def check_image(binary, version):
    path = PKG / "image" / "Dockerfile"
    text = path.read_text(encoding="utf-8")
    lines = [l for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.lstrip().startswith("#")]
    instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1].strip()) for l in lines]
    froms = [a for i, a in instr if i == "FROM"]
    if len(froms) != 1 or not re.match(r"^debian:[a-z]+-slim$", froms[0]):
        fail(f"Dockerfile must build on a slim Debian base, got {froms}")
    args = dict(a.split("=", 1) for i, a in instr if i == "ARG" and "=" in a)
    if args.get("VERSION") != version:
        fail(f"Dockerfile ARG VERSION={args.get('VERSION')} != crate version {version}")
    if args.get("ARCH") not in ("x86_64", "aarch64"):
        fail("Dockerfile ARG ARCH must be a scripts/release arch name")
    copies = [a for i, a in instr if i == "COPY"]
    release = re.search(r'name="(kube-mesos-\$version-linux-\$arch)"', (ROOT / "scripts" / "release").read_text())
    if not release:
        fail("scripts/release no longer names its tarball kube-mesos-$version-linux-$arch")
    expected_src = "dist/" + release.group(1).replace("$version", "${VERSION}").replace("$arch", "${ARCH}") + ".tar.gz"
    if not any(c.split()[0] == expected_src for c in copies):
        fail(f"Dockerfile must COPY {expected_src} (what scripts/release writes), got {copies}")
    runs = " ".join(a for i, a in instr if i == "RUN")
    m = re.search(r"tar -xzf \S+ -C (\S+)", runs)
    link = re.search(r"ln -s (\S+) (\S+)", runs)
    if not m or not link or link.group(1) != m.group(1).rstrip("/") + "/kube-mesos":
        fail("Dockerfile must unpack the flat tarball and link its kube-mesos binary")
    entry = json.loads(dict(instr)["ENTRYPOINT"])
    cmd = json.loads(dict(instr)["CMD"])
    if entry != [link.group(2)]:
        fail(f"ENTRYPOINT {entry} is not the installed binary {link.group(2)}")
    # The entrypoint's subcommand exists in this build.
    proc = subprocess.run([binary, *cmd, "--help"], capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"CMD {cmd}: `kube-mesos {' '.join(cmd)} --help` fails")
    default_port = re.search(r"\[default: [\d.]+:(\d+)\]", proc.stdout)
    exposed = [a for i, a in instr if i == "EXPOSE"]
    if not default_port or exposed != [default_port.group(1)]:
        fail(f"EXPOSE {exposed} is not the --http-addr default port")
    user = [a for i, a in instr if i == "USER"]
    if not user or user[-1].split(":")[0] in ("0", "root"):
        fail("the image must not run as root")
    print("ok: image recipe")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    try:
        check_systemd(args.binary)
        check_marathon(args.binary)
        check_image(args.binary, args.version)
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
