#!/usr/bin/env python3
"""Validates the DC/OS Universe package in packaging/dcos/ the way Universe does.

Why a Python checker: Universe's own build (scripts/build.sh) is Python —
validate_packages.py checks each file with jsonschema's Draft4Validator and
gen_universe.py assembles and validates the repository — and Cosmos renders
marathon.json.mustache with a real mustache engine. Doing the same steps
with the same libraries (jsonschema, pystache: Universe's requirements.txt)
is the closest we get to "it would pass Universe" without its CI. The Rust
test tests/packaging_dcos.rs runs this script; scripts/test installs the
modules.

Steps, each a function below:
  1. universe_build      validate_packages.py + gen_universe.py rules
  2. check_config_schema config.json is a draft-04 schema whose defaults
                         validate against it
  3. check_template_keys every {{tag}} of the template names a key of
                         config.json or resource.json (mustache renders an
                         unknown key as "" without an error), and every
                         option is used
  4. render              options merged over the defaults, validated, rendered
                         with pystache, parsed as JSON
  5. check_marathon_app  Marathon's rules for single-instance apps and
                         DC/OS' labels, secrets and fetch
  6. dry_run             the rendered cmd run in a fake Mesos sandbox holding
                         the fetched tarball, with `--check-config` added,
                         under exactly the rendered environment
"""

import argparse
import atexit
import base64
import copy
import gzip
import hashlib
import json
import os
import pathlib
import re
import secrets
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

import jsonschema
import pystache

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PACKAGE_DIR = ROOT / "packaging" / "dcos"
SCHEMA_DIR = PACKAGE_DIR / "schema"

# validate_packages.py
PACKAGE_FOLDER_PATTERN = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
ESCAPED_UNICODE_LITERAL = re.compile(r"\\[u][a-fA-F0-9]{4}")
# Marathon's PathId rule for an app id segment.
MARATHON_ID = re.compile(r"^/?(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
# Labels DC/OS reads (Cosmos: DCOS_PACKAGE_FRAMEWORK_NAME; adminrouter: DCOS_SERVICE_*).
REQUIRED_LABELS = (
    "MARATHON_SINGLE_INSTANCE_APP",
    "DCOS_PACKAGE_FRAMEWORK_NAME",
    "DCOS_SERVICE_NAME",
    "DCOS_SERVICE_PORT_INDEX",
    "DCOS_SERVICE_SCHEME",
)


class CheckFailed(Exception):
    """One rule was broken; the message says which and where."""


def fail(msg):
    raise CheckFailed(msg)


def load_schema(name):
    with open(SCHEMA_DIR / name, encoding="utf-8") as f:
        return json.load(f)


def validate(instance, schema, what):
    errors = sorted(
        jsonschema.Draft4Validator(schema).iter_errors(instance), key=lambda e: list(e.path)
    )
    if errors:
        # A oneOf failure (package-schema's packaging versions) says only
        # "not valid under any of the given schemas": report its causes.
        leaves = [c for e in errors for c in (e.context or [e])]
        detail = "; ".join(f"{list(e.path)}: {e.message}" for e in leaves[:10])
        fail(f"{what}: {detail}")


def read_json_ascii(path):
    """validate_packages._validate_json: ASCII only, no escaped unicode."""
    try:
        with open(path, encoding="ascii") as f:
            data = json.loads(f.read())
    except UnicodeDecodeError as e:
        fail(f"{path.name}: not ASCII ({e})")
    except json.JSONDecodeError as e:
        fail(f"{path.name}: not JSON ({e})")
    found = ESCAPED_UNICODE_LITERAL.findall(json.dumps(data))
    if found:
        fail(f"{path.name}: escaped unicode literals {found}")
    return data


# 1. ------------------------------------------------------------------------


def universe_build(package_dir, work):
    """Lays the package out as repo/packages/K/kube-mesos/0 and applies
    validate_packages.py's and gen_universe.py's rules. Returns the package
    as gen_universe.py puts it in the repository."""
    package = read_json_ascii(package_dir / "package.json")
    name = package.get("name", "")
    rev_dir = work / "repo" / "packages" / name[:1].upper() / name / "0"
    rev_dir.mkdir(parents=True)
    for f in ("package.json", "config.json", "resource.json", "marathon.json.mustache"):
        shutil.copy(package_dir / f, rev_dir / f)
    letter = rev_dir.parent.parent.name
    if not re.match(r"^[A-Z]$", letter):
        fail(f"package letter directory {letter!r} invalid")
    if not PACKAGE_FOLDER_PATTERN.match(name):
        fail(f"package name {name!r} does not match {PACKAGE_FOLDER_PATTERN.pattern}")

    validate(package, load_schema("package-schema.json"), "package.json")
    if package["packagingVersion"] != "4.0":
        fail("packagingVersion must be 4.0")
    if (rev_dir / "command.json").exists():
        fail("command.json is not supported for 4.0 packages")
    config = read_json_ascii(rev_dir / "config.json")
    validate(config, load_schema("config-schema.json"), "config.json")
    resource = read_json_ascii(rev_dir / "resource.json")
    validate(resource, load_schema("v3-resource-schema.json"), "resource.json")
    template_bytes = (rev_dir / "marathon.json.mustache").read_bytes()
    try:
        template_bytes.decode("ascii")
    except UnicodeDecodeError as e:
        fail(f"marathon.json.mustache: not ASCII ({e})")

    # gen_universe.generate_package + _validate_repo for DC/OS >= 1.10 (v4).
    repo_package = dict(package)
    repo_package["releaseVersion"] = 0
    repo_package["resource"] = resource
    repo_package["marathon"] = {
        "v2AppMustacheTemplate": base64.standard_b64encode(template_bytes).decode()
    }
    repo_package["config"] = config
    validate({"packages": [repo_package]}, load_schema("v4-repo-schema.json"), "generated v4 repo")
    return repo_package


# 2. ------------------------------------------------------------------------


def defaults_of(schema):
    """The option tree Cosmos starts from: every property's default."""
    if schema.get("type") == "object":
        out = {}
        for key, sub in schema.get("properties", {}).items():
            value = defaults_of(sub)
            if value is not None:
                out[key] = value
        return out
    return copy.deepcopy(schema.get("default"))


def check_config_schema(config):
    try:
        jsonschema.Draft4Validator.check_schema(config)
    except jsonschema.SchemaError as e:
        fail(f"config.json is not a valid draft-04 schema: {e.message}")
    if config.get("type") != "object":
        fail('config.json: top-level "type" must be "object"')

    def walk(schema, path):
        props = schema.get("properties", {})
        for key, sub in props.items():
            where = ".".join(path + [key])
            if not sub.get("description"):
                fail(f"config.json: {where} has no description")
            if sub.get("type") == "object":
                walk(sub, path + [key])
            elif "default" not in sub:
                fail(f"config.json: {where} has no default")
        for req in schema.get("required", []):
            if req not in props:
                fail(f"config.json: required {req!r} is not a property of {'.'.join(path) or 'root'}")

    walk(config, [])
    validate(defaults_of(config), config, "config.json defaults against config.json")


# 3. ------------------------------------------------------------------------

TAG = re.compile(r"\{\{(\{?)\s*([#^/&!>]?)\s*([^}]*?)\s*\}?\}\}")


def template_keys(template):
    """The names the template looks up, in order: variables and sections."""
    keys = []
    for m in TAG.finditer(template):
        sigil, name = m.group(2), m.group(3)
        if sigil in ("!", ">"):
            if sigil == ">":
                fail(f"template uses a partial {{{{> {name}}}}}: Cosmos has none")
            continue
        if sigil == "/" or name == ".":
            continue
        keys.append(name)
    return keys


def key_exists(tree, dotted):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def leaf_paths(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaf_paths(value, path + ".")
        else:
            yield path


def check_template_keys(template, config, resource):
    context = {"resource": resource}
    context.update(schema_key_tree(config))
    used = set()
    for key in template_keys(template):
        if not key_exists(context, key):
            fail(f"marathon.json.mustache: {{{{{key}}}}} is neither in config.json nor resource.json")
        used.add(key)
    for option in leaf_paths(schema_key_tree(config)):
        if option not in used:
            fail(f"config.json option {option} is never used by marathon.json.mustache")


def schema_key_tree(schema):
    """Every property of config.json as a nested dict (values None)."""
    out = {}
    for key, sub in schema.get("properties", {}).items():
        out[key] = schema_key_tree(sub) if sub.get("type") == "object" else None
    return out


# 4. ------------------------------------------------------------------------


def merge(base, over):
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def render(template, config, resource, options):
    """Cosmos' order: defaults, the user's options over them, validation
    against config.json, then `resource` added and the template rendered."""
    merged = merge(defaults_of(config), options)
    validate(merged, config, "options against config.json")
    context = dict(merged)
    context["resource"] = resource
    text = pystache.render(template, context)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"rendered marathon.json is not JSON: {e}\n{text}")


# 5. ------------------------------------------------------------------------


def check_marathon_app(app, resource, merged):
    if not MARATHON_ID.match(app.get("id", "")):
        fail(f"app id {app.get('id')!r} is not a valid Marathon id")
    labels = app.get("labels", {})
    for label in REQUIRED_LABELS:
        if not isinstance(labels.get(label), str) or not labels[label]:
            fail(f"label {label} missing or empty")
    # Marathon: isSingleInstance = labels(MARATHON_SINGLE_INSTANCE_APP) contains "true";
    # then instances <= 1 and upgradeStrategy 0/0 (validForSingleInstanceApps).
    if labels["MARATHON_SINGLE_INSTANCE_APP"] != "true":
        fail('MARATHON_SINGLE_INSTANCE_APP must be "true"')
    if app.get("instances") != 1:
        fail(f"instances must be 1, got {app.get('instances')!r}")
    strategy = app.get("upgradeStrategy", {})
    if strategy.get("minimumHealthCapacity") != 0 or strategy.get("maximumOverCapacity") != 0:
        fail(f"single-instance upgradeStrategy must be 0/0, got {strategy}")
    if not isinstance(app.get("cpus"), (int, float)) or app["cpus"] <= 0:
        fail("cpus must be a positive number")
    if not isinstance(app.get("mem"), (int, float)) or app["mem"] <= 0:
        fail("mem must be a positive number")

    env = app.get("env", {})
    framework_name = env.get("KUBE_MESOS_FRAMEWORK_NAME")
    if labels["DCOS_PACKAGE_FRAMEWORK_NAME"] != framework_name:
        fail("DCOS_PACKAGE_FRAMEWORK_NAME must equal the Mesos framework name (Cosmos finds the framework by it)")
    if labels["DCOS_SERVICE_NAME"] != framework_name:
        fail("DCOS_SERVICE_NAME must equal the framework name (adminrouter proxies /service/<name>)")
    ports = app.get("portDefinitions", [])
    index = int(labels["DCOS_SERVICE_PORT_INDEX"])
    if not 0 <= index < len(ports):
        fail("DCOS_SERVICE_PORT_INDEX points at no portDefinition")
    if labels["DCOS_SERVICE_SCHEME"] not in ("http", "https"):
        fail("DCOS_SERVICE_SCHEME must be http or https")

    checks = app.get("healthChecks", [])
    if len(checks) != 1:
        fail("exactly one health check expected")
    check = checks[0]
    if check.get("protocol") != "MESOS_HTTP" or check.get("path") != "/healthz":
        fail(f"health check must be MESOS_HTTP /healthz, got {check}")
    if not 0 <= check.get("portIndex", -1) < len(ports):
        fail("health check portIndex points at no portDefinition")
    if "$PORT%d" % check["portIndex"] not in app.get("cmd", "") and "$PORT_%s" % ports[
        check["portIndex"]
    ].get("name", "").upper() not in app.get("cmd", ""):
        fail("the framework's --http-addr must listen on the health-checked port")

    secrets = app.get("secrets", {})
    for name, value in env.items():
        if isinstance(value, dict):
            if set(value) != {"secret"} or value["secret"] not in secrets:
                fail(f"env {name}: {value} is not a reference to a declared secret")
        elif not isinstance(value, str):
            fail(f"env {name}: Marathon env values are strings, got {value!r}")
    for name, value in secrets.items():
        if set(value) != {"source"} or not value["source"]:
            fail(f"secret {name}: needs exactly a non-empty source")
    volumes = app.get("container", {}).get("volumes", [])
    for vol in volumes:
        if "secret" in vol and vol["secret"] not in secrets:
            fail(f"volume {vol}: unknown secret")
    used = {v["secret"] for v in env.values() if isinstance(v, dict)}
    used |= {v["secret"] for v in volumes if "secret" in v}
    if used != set(secrets):
        fail(f"declared secrets {sorted(secrets)} != used secrets {sorted(used)}")
    if volumes and app["container"].get("type") != "MESOS":
        fail("file-based secrets need the MESOS containerizer")

    fetch = [f["uri"] for f in app.get("fetch", [])]
    uris = resource["assets"]["uris"]
    if fetch != [uris["kube-mesos-tgz"], uris["kube-mesos-tgz-sha256"]]:
        fail(f"fetch must be the release tarball and its checksum, got {fetch}")
    if env.get("KUBE_MESOS_EXECUTOR_URI") != uris["kube-mesos-tgz"]:
        fail("executors must fetch the same release tarball as the framework")
    if merged["kubernetes"]["kubeconfig_secret"] != secrets.get("kubeconfig", {}).get("source"):
        fail("the kubeconfig secret must come from kubernetes.kubeconfig_secret")


# 6. ------------------------------------------------------------------------


def help_env_names(binary):
    out = subprocess.run(
        [binary, "framework", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"\[env: ([A-Z0-9_]+)=", out))


def executor_env_names():
    """The executor's KUBE_MESOS_* variables, from its clap definitions."""
    text = (ROOT / "executor" / "src" / "config.rs").read_text(encoding="utf-8")
    return set(re.findall(r'env = "(KUBE_MESOS_[A-Z0-9_]+)"', text))


_TARBALLS = {}


def make_tarball(binary, name):
    """A release-shaped tarball (flat: the binary at the top) for the dry
    run when no real release tarball is given. Made once per process."""
    if (binary, name) in _TARBALLS and _TARBALLS[(binary, name)].exists():
        return _TARBALLS[(binary, name)]
    tmp = tempfile.mkdtemp(prefix="kube-mesos-tgz-")
    atexit.register(shutil.rmtree, tmp, True)
    path = pathlib.Path(tmp) / name
    _TARBALLS[(binary, name)] = path
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w") as tar:
                tar.add(binary, arcname="kube-mesos")
    return path


def sha256_line(path):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return f"{digest}  {path.name}\n"


def parse_check_config(text):
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            values[key] = value
    return values


def dry_run(app, binary, tarball, work):
    """Runs the rendered cmd the way a Mesos agent would: cwd = sandbox
    holding what Marathon's fetch downloaded, env = the app's env plus what
    Mesos/Marathon set (MESOS_SANDBOX, HOST, PORT0, PORTS), secrets as files
    and variables. `--check-config` is added after `framework` so the
    scheduler validates and prints its configuration instead of starting."""
    sandbox = work / "sandbox"
    sandbox.mkdir()
    uris = [f["uri"] for f in app["fetch"]]
    tgz_name = uris[0].rsplit("/", 1)[-1]
    sha_name = uris[1].rsplit("/", 1)[-1]
    if sha_name != tgz_name + ".sha256":
        fail("the checksum URI must be the tarball URI + .sha256")
    if tarball is None:
        tarball = make_tarball(binary, tgz_name)
    shutil.copy(tarball, sandbox / tgz_name)
    (sandbox / sha_name).write_text(sha256_line(sandbox / tgz_name))

    # DC/OS puts the secrets' values into the sandbox (variables, files):
    # each gets a value of its own, searched for below.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    secret_values = []
    for name, value in app["env"].items():
        if isinstance(value, dict):
            env[name] = f"dcos-secret-{value['secret']}-{secrets.token_hex(12)}"
            secret_values.append(env[name])
        else:
            env[name] = value
    for vol in app.get("container", {}).get("volumes", []):
        if "secret" in vol:
            value = f"dcos-secret-{vol['secret']}-{secrets.token_hex(12)}"
            (sandbox / vol["containerPath"]).write_text(value + "\n")
            secret_values.append(value)
    port = "31234"
    env.update(
        {"MESOS_SANDBOX": str(sandbox), "HOST": "agent-1.example", "PORT0": port, "PORTS": port}
    )
    marker = "exec ./kube-mesos framework"
    if app["cmd"].count(marker) != 1:
        fail(f"cmd must exec `./kube-mesos framework` once: {app['cmd']}")
    # The environment the framework starts with: KUBE_MESOS_EXECUTOR_ENV
    # becomes the ExecutorInfo's environment, which Mesos shows to anyone
    # who can read its state.
    cmd = app["cmd"].replace(marker, "env > framework.env; " + marker + " --check-config")
    proc = subprocess.run(
        ["sh", "-c", cmd], cwd=sandbox, env=env, capture_output=True, text=True, timeout=120
    )
    if proc.returncode != 0:
        fail(f"dry run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if not (sandbox / "kube-mesos").exists():
        fail("cmd did not unpack ./kube-mesos from the tarball")
    framework_env = (sandbox / "framework.env").read_text(encoding="utf-8")
    executor_env = next(
        (l.split("=", 1)[1] for l in framework_env.splitlines() if l.startswith("KUBE_MESOS_EXECUTOR_ENV=")), ""
    )
    # No secret in sight: not in the app Marathon stores and shows, not in
    # what the framework prints, not in what it hands the executors.
    for value in secret_values:
        for where, text in [
            ("the rendered app", json.dumps(app)),
            ("--check-config", proc.stdout + proc.stderr),
            ("the executors' environment (ExecutorInfo)", executor_env),
        ]:
            if value in text:
                fail(f"a DC/OS secret's value is in {where}")

    known = help_env_names(binary)
    for name in app["env"]:
        if name.startswith("KUBE_MESOS_") and name not in known:
            fail(f"env {name} is no `kube-mesos framework` variable (it would be ignored)")
    printed = parse_check_config(proc.stdout)
    if printed.get("http_addr") != f"0.0.0.0:{port}":
        fail(f"framework HTTP endpoint {printed.get('http_addr')} is not on the health-checked port")
    executor_known = executor_env_names() | {"RUST_LOG"}
    for key in printed:
        if key.startswith("executor.env."):
            var = key[len("executor.env.") :]
            if var not in executor_known:
                fail(f"executor env {var} is no `kube-mesos executor` variable")
    return printed


def check_printed(printed, merged, resource):
    """The configuration the binary parsed is the one the options asked for."""
    svc, kube, exe = merged["service"], merged["kubernetes"], merged["executor"]
    expect = {
        "masters": ",".join(m.rstrip("/") + "/" for m in svc["mesos_master"].split(",")),
        "framework_name": svc["name"],
        "mesos_user": svc["user"],
        "roles": svc["roles"],
        "namespace": kube["namespace"],
        "placement_policy": svc["placement_policy"].capitalize(),
        "log_format": svc["log_format"].capitalize(),
        "executor.uris": resource["assets"]["uris"]["kube-mesos-tgz"],
        "executor.cpus": format_number(exe["cpus"]),
        "executor.mem_mib": format_number(exe["mem"]),
        "mesos_principal": svc["principal"] or "<none>",
        "leader_election.enabled": "true",
    }
    names = [kube["scheduler_name"]]
    if kube["also_default_scheduler"] and kube["scheduler_name"] != "default-scheduler":
        names.append("default-scheduler")
    expect["scheduler_names"] = ",".join(names)
    for key, value in expect.items():
        if printed.get(key) != value:
            fail(f"--check-config printed {key}={printed.get(key)!r}, options want {value!r}")
    if svc["service_account_secret"] and not printed.get("mesos_secret_file", "").endswith("/mesos-secret"):
        fail("the service-account secret is not passed as --mesos-secret-file")
    if not printed.get("kubeconfig", "").endswith("/kubeconfig"):
        fail("the kubeconfig secret is not passed as --kubeconfig")
    for pair in filter(None, svc["role_for_namespace"].split(",")):
        ns, role = pair.split("=", 1)
        if printed.get(f"role_for_namespace.{ns}") != role:
            fail(f"role_for_namespace {ns} not applied")
    env_keys = {k[len("executor.env.") :] for k in printed if k.startswith("executor.env.")}
    want = {"KUBE_MESOS_RUNTIME", "KUBE_MESOS_KUBELET_CLIENT_CA_FILE", "RUST_LOG", "KUBE_MESOS_BOOTSTRAP_KUBECONFIG"}
    if env_keys != want:
        fail(f"executor env {sorted(env_keys)}, expected {sorted(want)}")


def format_number(value):
    """How Rust's Display prints an f64 (64.0 -> 64, 0.1 -> 0.1)."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# ---------------------------------------------------------------------------


def check_icons(resource):
    sizes = {"icon-small": 48, "icon-medium": 128, "icon-large": 256}
    for key, size in sizes.items():
        uri = resource.get("images", {}).get(key, "")
        prefix = "data:image/png;base64,"
        if uri.startswith(prefix):
            data = base64.b64decode(uri[len(prefix) :], validate=True)
            if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
                fail(f"{key} is not a PNG")
            w, h = struct.unpack(">II", data[16:24])
            if (w, h) != (size, size):
                fail(f"{key} is {w}x{h}, Universe wants {size}x{size}")
        elif not uri.startswith("https://"):
            fail(f"{key} must be an https URL or a PNG data URI")


def check_package(package_dir, binary, options_files, tarball=None, version=None):
    package_dir = pathlib.Path(package_dir)
    with tempfile.TemporaryDirectory(prefix="kube-mesos-dcos-") as tmp:
        work = pathlib.Path(tmp)
        repo_package = universe_build(package_dir, work / "universe")
        config = repo_package["config"]
        resource = repo_package["resource"]
        template = (package_dir / "marathon.json.mustache").read_text(encoding="ascii")
        if version and repo_package["version"] != version:
            fail(f"package.json version {repo_package['version']} != release {version}")
        check_config_schema(config)
        check_template_keys(template, config, resource)
        check_icons(resource)
        runs = [("defaults", {})]
        for path in options_files:
            runs.append((str(path), json.loads(pathlib.Path(path).read_text(encoding="utf-8"))))
        for i, (label, options) in enumerate(runs):
            app = render(template, config, resource, options)
            merged = merge(defaults_of(config), options)
            check_marathon_app(app, resource, merged)
            run_dir = work / f"run{i}"
            run_dir.mkdir()
            printed = dry_run(app, binary, tarball, run_dir)
            check_printed(printed, merged, resource)
            print(f"ok: rendered and dry-ran with {label}")
    print("ok: package passes Universe's validation")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="kube-mesos binary for --help/--check-config")
    parser.add_argument("--package-dir", default=str(PACKAGE_DIR))
    parser.add_argument("--options", action="append", default=[], help="custom options file (repeatable)")
    parser.add_argument("--tarball", help="release tarball to put in the sandbox (default: one made from --binary)")
    parser.add_argument("--version", help="expected package version")
    args = parser.parse_args()
    try:
        check_package(
            args.package_dir,
            args.binary,
            args.options,
            pathlib.Path(args.tarball) if args.tarball else None,
            args.version,
        )
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
