#!/usr/bin/env python3
"""Checks packaging/kubernetes/ against the Kubernetes calls the code makes.

Why static: the devcluster API server has no authorizer (it accepts any
authenticated request), so the integration flows cannot prove a missing
grant. Instead three sets are kept equal or ordered:

    calls found in the code  <=  api-calls.yaml  ==  grants in the manifests

1. scan_calls reads framework/src and executor/src for kube-rs calls: a
   method (get/get_opt/list/create/replace/patch/delete/patch_status/
   create_subresource/...) on a receiver whose type resolves to `Api<K>` (a
   `let x: Api<K>`, a parameter or field `x: Api<K>`, a `fn x(..) -> Api<K>`
   or an inline `Api::<K>::..`), plus kube-runtime watchers (list + watch).
   K's group comes from the file's `use k8s_openapi::api::<group>::<ver>`.
   A kube-only method whose receiver cannot be resolved fails the check, so
   new code cannot slip past it silently.
2. api-calls.yaml lists what each component may call, with the namespace.
3. grants expands the manifests' (Cluster)Role(Binding)s for the component's
   ServiceAccount into (verb, group, resource, namespace) and must equal (2).
"""

import argparse
import pathlib
import re
import shlex
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KUBE_DIR = ROOT / "packaging" / "kubernetes"
SELF_NAMESPACE = "kube-mesos"
ACCOUNTS = {"framework": "kube-mesos-framework", "executor": "kube-mesos-executor"}
SOURCES = {"framework": ROOT / "framework" / "src", "executor": ROOT / "executor" / "src"}

# kube-rs Api methods -> (verb, subresource or None). Subresource methods
# take the subresource name as their first string argument ("*").
METHODS = {
    "get": ("get", None),
    "get_opt": ("get", None),
    "get_metadata": ("get", None),
    "get_metadata_opt": ("get", None),
    "list": ("list", None),
    "list_metadata": ("list", None),
    "watch": ("watch", None),
    "watch_metadata": ("watch", None),
    "create": ("create", None),
    "replace": ("update", None),
    "patch": ("patch", None),
    "patch_metadata": ("patch", None),
    "delete": ("delete", None),
    "delete_collection": ("deletecollection", None),
    "get_status": ("get", "status"),
    "patch_status": ("patch", "status"),
    "replace_status": ("update", "status"),
    "get_subresource": ("get", "*"),
    "create_subresource": ("create", "*"),
    "patch_subresource": ("patch", "*"),
    "replace_subresource": ("update", "*"),
    "logs": ("get", "log"),
    "log_stream": ("get", "log"),
    "evict": ("create", "eviction"),
    "exec": ("create", "exec"),
    "attach": ("create", "attach"),
    "portforward": ("create", "portforward"),
}
# Names no std type has: an unresolved receiver of these is an error.
KUBE_ONLY = {m for m in METHODS if "_" in m and m != "log_stream"} | {"evict"}
WATCHERS = ("watcher", "metadata_watcher", "reflector")

GROUPS = {
    "core": "",
    "coordination": "coordination.k8s.io",
    "events": "events.k8s.io",
    "apps": "apps",
    "batch": "batch",
    "policy": "policy",
    "discovery": "discovery.k8s.io",
    "authentication": "authentication.k8s.io",
    "authorization": "authorization.k8s.io",
    "certificates": "certificates.k8s.io",
    "rbac": "rbac.authorization.k8s.io",
    "storage": "storage.k8s.io",
}
PLURALS = {"Endpoints": "endpoints", "PodSecurityPolicy": "podsecuritypolicies"}
K8S_VERBS = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}


class CheckFailed(Exception):
    """One rule was broken."""


def fail(msg):
    raise CheckFailed(msg)


def plural(kind):
    if kind in PLURALS:
        return PLURALS[kind]
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


# 1. code -------------------------------------------------------------------


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def without_tests(text):
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def kind_groups(text):
    """What decides a kind's API group in this file: names imported from
    `k8s_openapi::api::<group>::<version>::{..}` and module aliases
    (`use k8s_openapi::api::core::v1 as core;`)."""
    names, aliases = {}, {}
    for m in re.finditer(r"k8s_openapi::api::(\w+)::(\w+)(?:::(\{[^}]*\}|\w+)|\s+as\s+(\w+))", text):
        group = GROUPS.get(m.group(1))
        if group is None:
            continue
        if m.group(4):
            aliases[m.group(4)] = group
            continue
        for name in re.findall(r"\b([A-Z]\w*)\b", m.group(3) or ""):
            names[name] = group
    return names, aliases


def group_of(kind_path, names, aliases):
    m = re.search(r"k8s_openapi::api::(\w+)::\w+::\w+$", kind_path)
    if m:
        return GROUPS.get(m.group(1))
    if "::" in kind_path:
        return aliases.get(kind_path.split("::")[0])
    return names.get(kind_path)


def receiver_before(text, dot):
    """The expression before `.method(` at index `dot`: walks back over
    identifiers, `::`, `.`, `&`, generics and balanced (...)."""
    i = dot
    depth = 0
    while i > 0:
        c = text[i - 1]
        if c in ")]>":
            depth += 1
        elif c in "([<":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and not (c.isalnum() or c in "_.:&" or c.isspace()):
            break
        elif depth == 0 and c.isspace():
            # allow `foo\n    .bar(` chains, stop at `let x = ` etc.
            j = i - 1
            while j > 0 and text[j - 1].isspace():
                j -= 1
            if j > 0 and (text[j - 1].isalnum() or text[j - 1] in ")_]>") and text[i:dot].lstrip().startswith("."):
                i = j
                continue
            if text[i:dot].strip() and not text[i:dot].lstrip().startswith("."):
                break
        i -= 1
    return text[i:dot].strip()


def resolve(receiver, at, typed, fns):
    """The K of the `Api<K>` the receiver is, or None. `typed` holds
    (position, name, K) declarations: the nearest one before `at` wins, so
    two `let api: Api<..>` in one file resolve each to its own."""
    m = re.search(r"Api::<\s*([\w:]+)\s*>", receiver)
    if m:
        return m.group(1)
    # `self.pods(&ns)` / `self.api` / `api`: the last path segment.
    segments = re.findall(r"(\w+)\s*(\([^()]*(?:\([^()]*\)[^()]*)*\))?", receiver)
    for name, call in reversed(segments):
        if not name:
            continue
        if call and name in fns:
            return fns[name]
        if not call:
            kinds = [k for pos, n, k in typed if n == name and pos < at]
            if kinds:
                return kinds[-1]
        break
    return None


def display(path):
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def scan_file(path):
    text = without_tests(strip_comments(path.read_text(encoding="utf-8")))
    names, aliases = kind_groups(text)
    typed = [
        (m.start(), m.group(1), m.group(2))
        for m in re.finditer(r"\b(\w+)\s*:\s*&?\s*(?:mut\s+)?(?:kube::)?(?:api::)?Api<\s*([\w:]+)\s*>", text)
    ]
    own_methods = set(re.findall(r"\bfn\s+(\w+)", text))
    fns = {
        m.group(1): m.group(2)
        for m in re.finditer(r"fn\s+(\w+)\s*\([^)]*\)\s*->\s*(?:kube::)?(?:api::)?Api<\s*([\w:]+)\s*>", text)
    }
    calls, problems = set(), []

    def record(kind_path, verb, sub, where):
        group = group_of(kind_path, names, aliases)
        if group is None:
            problems.append(f"{where}: Api<{kind_path}>: no k8s_openapi import gives its group")
            return
        resource = plural(kind_path.split("::")[-1]) + (f"/{sub}" if sub else "")
        calls.add((verb, group, resource, where))

    for m in re.finditer(r"\.\s*(\w+)\s*\(", text):
        method = m.group(1)
        if method not in METHODS:
            continue
        line = text.count("\n", 0, m.start()) + 1
        where = f"{display(path)}:{line}"
        receiver = receiver_before(text, m.start())
        if receiver == "self" and method in own_methods:
            continue  # the file's own method of that name, not kube-rs'
        kind = resolve(receiver, m.start(), typed, fns)
        if kind is None:
            if method in KUBE_ONLY:
                problems.append(f"{where}: .{method}() on {receiver!r}: cannot tell which Api<K>")
            continue
        verb, sub = METHODS[method]
        if sub == "*":
            arg = re.match(r"\s*\"([^\"]+)\"", text[m.end():])
            if not arg:
                problems.append(f"{where}: .{method}() without a literal subresource name")
                continue
            sub = arg.group(1)
        record(kind, verb, sub, where)

    for m in re.finditer(r"\b(?:watcher::)?(" + "|".join(WATCHERS) + r")\s*\(\s*([^,]+),", text):
        line = text.count("\n", 0, m.start()) + 1
        where = f"{display(path)}:{line}"
        kind = resolve(m.group(2), m.start(), typed, fns)
        if kind is None:
            problems.append(f"{where}: {m.group(1)}({m.group(2).strip()}): cannot tell which Api<K>")
            continue
        record(kind, "list", None, where)
        record(kind, "watch", None, where)

    if re.search(r"\.\s*request(?:_text|_status|_events)?\s*::?<|\bclient\.send\s*\(", text):
        problems.append(f"{display(path)}: raw kube::Client requests cannot be checked; use Api<K>")
    return calls, problems


def scan_calls(component):
    calls, problems = set(), []
    for path in sorted(SOURCES[component].rglob("*.rs")):
        c, p = scan_file(path)
        calls |= c
        problems += p
    return calls, problems


# 2. api-calls.yaml ---------------------------------------------------------


def load_declared():
    data = yaml.safe_load((KUBE_DIR / "api-calls.yaml").read_text(encoding="utf-8"))
    declared = {}
    for component in ACCOUNTS:
        entries = set()
        for line in data.get(component) or []:
            parts = shlex.split(line)
            if len(parts) != 4:
                fail(f"api-calls.yaml {component}: {line!r} is not 'verb group resource namespace'")
            verb, group, resource, ns = parts
            if verb not in K8S_VERBS:
                fail(f"api-calls.yaml {component}: unknown verb {verb!r}")
            ns = SELF_NAMESPACE if ns == "self" else ns
            entry = (verb, group, resource, ns)
            if entry in entries:
                fail(f"api-calls.yaml {component}: duplicate {line!r}")
            entries.add(entry)
        declared[component] = entries
    return declared


# 3. manifests --------------------------------------------------------------

RBAC = "rbac.authorization.k8s.io/v1"
KINDS = {
    "Namespace": "v1",
    "ServiceAccount": "v1",
    "ClusterRole": RBAC,
    "ClusterRoleBinding": RBAC,
    "Role": RBAC,
    "RoleBinding": RBAC,
}
NAMESPACED = {"ServiceAccount", "Role", "RoleBinding"}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Resources of the groups we grant, as the API server serves them.
KNOWN_RESOURCES = {
    "": {"pods", "pods/binding", "pods/status", "pods/log", "pods/eviction", "nodes", "nodes/status",
         "events", "configmaps", "secrets", "serviceaccounts", "serviceaccounts/token", "namespaces"},
    "coordination.k8s.io": {"leases"},
    "events.k8s.io": {"events"},
}
# Namespaces the manifests may bind in without creating them.
SYSTEM_NAMESPACES = {"kube-node-lease", "kube-system", "default"}


def load_manifests():
    docs = []
    for path in sorted(KUBE_DIR.glob("*.yaml")):
        if path.name == "api-calls.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def check_structure(docs):
    index = {}
    namespaces = set(SYSTEM_NAMESPACES)
    for name, doc in docs:
        kind = doc.get("kind")
        if KINDS.get(kind) != doc.get("apiVersion"):
            fail(f"{name}: {kind} must be apiVersion {KINDS.get(kind)}, got {doc.get('apiVersion')}")
        meta = doc.get("metadata") or {}
        if not DNS_LABEL.match(meta.get("name", "")):
            fail(f"{name}: {kind} has an invalid metadata.name {meta.get('name')!r}")
        if (kind in NAMESPACED) != ("namespace" in meta):
            fail(f"{name}: {kind} {meta['name']} namespace set wrongly (namespaced: {kind in NAMESPACED})")
        key = (kind, meta.get("namespace"), meta["name"])
        if key in index:
            fail(f"{name}: duplicate {key}")
        index[key] = doc
        if kind == "Namespace":
            namespaces.add(meta["name"])
        if kind in ("Role", "ClusterRole"):
            for rule in doc.get("rules") or []:
                extra = set(rule) - {"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"}
                if extra:
                    fail(f"{name}: {kind} {meta['name']} rule has unknown fields {extra}")
                for group in rule.get("apiGroups", []):
                    for res in rule.get("resources", []):
                        if res not in KNOWN_RESOURCES.get(group, set()):
                            fail(f"{name}: {kind} {meta['name']}: {group or 'core'}/{res} is no resource we know")
                for verb in rule.get("verbs", []):
                    if verb not in K8S_VERBS:
                        fail(f"{name}: {kind} {meta['name']}: verb {verb!r} (wildcards are not allowed)")
                if rule.get("resourceNames") or rule.get("nonResourceURLs"):
                    fail(f"{name}: {kind} {meta['name']}: resourceNames/nonResourceURLs are not used")
    for (kind, ns, _), doc in index.items():
        if ns is not None and ns not in namespaces:
            fail(f"{kind} {doc['metadata']['name']}: namespace {ns} is not created by the manifests")
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            ref = doc.get("roleRef") or {}
            if ref.get("apiGroup") != "rbac.authorization.k8s.io":
                fail(f"{kind} {doc['metadata']['name']}: roleRef.apiGroup")
            target_ns = ns if ref.get("kind") == "Role" else None
            if kind == "ClusterRoleBinding" and ref.get("kind") != "ClusterRole":
                fail(f"ClusterRoleBinding {doc['metadata']['name']} must reference a ClusterRole")
            if (ref.get("kind"), target_ns, ref.get("name")) not in index:
                fail(f"{kind} {doc['metadata']['name']}: roleRef {ref} does not exist")
            for subject in doc.get("subjects") or []:
                if subject.get("kind") != "ServiceAccount":
                    fail(f"{kind} {doc['metadata']['name']}: only ServiceAccount subjects are expected")
                if ("ServiceAccount", subject.get("namespace"), subject.get("name")) not in index:
                    fail(f"{kind} {doc['metadata']['name']}: subject {subject} does not exist")
    return index


def grants(index, account):
    """(verb, group, resource, namespace) the ServiceAccount is allowed;
    namespace "*" for cluster-wide grants."""
    out = set()
    for (kind, ns, _), doc in index.items():
        if kind not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("name") == account and s.get("namespace") == SELF_NAMESPACE for s in doc["subjects"]):
            continue
        ref = doc["roleRef"]
        role = index[(ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"])]
        scope = "*" if kind == "ClusterRoleBinding" else ns
        for rule in role.get("rules") or []:
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    for verb in rule["verbs"]:
                        out.add((verb, group, res, scope))
    return out


def fmt(entry):
    verb, group, res, ns = entry
    return f"{verb} {group or 'core'}/{res} in {ns}"


def main():
    global KUBE_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-dir", help="manifests directory (default packaging/kubernetes)")
    parser.add_argument("--framework-src", help="framework sources (default framework/src)")
    parser.add_argument("--executor-src", help="executor sources (default executor/src)")
    args = parser.parse_args()
    if args.kube_dir:
        KUBE_DIR = pathlib.Path(args.kube_dir)
    for component in ACCOUNTS:
        given = getattr(args, f"{component}_src")
        if given:
            SOURCES[component] = pathlib.Path(given).resolve()
    try:
        declared = load_declared()
        index = check_structure(load_manifests())
        for component, account in ACCOUNTS.items():
            granted = grants(index, account)
            missing = declared[component] - granted
            extra = granted - declared[component]
            if missing:
                fail(f"{account} lacks: " + "; ".join(sorted(map(fmt, missing))))
            if extra:
                fail(f"{account} is granted what api-calls.yaml does not list: " + "; ".join(sorted(map(fmt, extra))))
            calls, problems = scan_calls(component)
            if problems:
                fail(f"{component} code: " + "; ".join(problems))
            allowed = {(v, g, r) for v, g, r, _ in declared[component]}
            found = {(v, g, r) for v, g, r, _ in calls}
            undeclared = sorted(c for c in calls if c[:3] not in allowed)
            if undeclared:
                fail(f"{component} code calls what api-calls.yaml does not list: "
                     + "; ".join(f"{v} {g or 'core'}/{r} at {w}" for v, g, r, w in undeclared))
            unused = sorted(allowed - found)
            print(f"ok: {component}: {len(found)} distinct calls in code, all granted to {account}")
            for v, g, r in unused:
                print(f"note: {component}: {v} {g or 'core'}/{r} is granted but not called by the code yet")
    except CheckFailed as e:
        print(f"FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
