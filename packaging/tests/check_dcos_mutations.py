#!/usr/bin/env python3
"""Proves check_dcos.py catches what it claims to: each case breaks one rule
in a copy of packaging/dcos/ and expects the checker to fail on it."""

import pathlib
import shutil
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import check_dcos  # noqa: E402

OPTIONS = [check_dcos.HERE / "options-custom.json"]


def replace(file, old, new):
    def apply(d):
        path = d / file
        text = path.read_text(encoding="utf-8")
        if old not in text:
            raise SystemExit(f"mutation anchor {old!r} not in {file}")
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return apply


T = "marathon.json.mustache"
CASES = {
    "template key unknown to config.json": replace(T, "{{service.roles}}", "{{service.role}}"),
    "single-instance label not true": replace(T, '"MARATHON_SINGLE_INSTANCE_APP": "true"', '"MARATHON_SINGLE_INSTANCE_APP": "yes"'),
    "two instances": replace(T, '"instances": 1', '"instances": 2'),
    "over-capacity upgrade": replace(T, '"maximumOverCapacity": 0', '"maximumOverCapacity": 1'),
    "flag the binary rejects": replace(T, "--hostname", "--host-name"),
    "env variable the binary ignores": replace(T, '"KUBE_MESOS_ROLES"', '"KUBE_MESOS_ROLE"'),
    "executor variable unknown": replace(T, "KUBE_MESOS_RUNTIME=", "KUBE_MESOS_RUNTIMES="),
    "health check path": replace(T, '"/healthz"', '"/health"'),
    "a secret handed to the executors": replace(
        T, "exec ./kube-mesos framework", 'export KUBE_MESOS_EXECUTOR_ENV=\\"$KUBE_MESOS_EXECUTOR_ENV,KUBE_MESOS_KUBECONFIG_DATA=$(cat kubeconfig)\\"; exec ./kube-mesos framework'
    ),
    "template renders invalid JSON": replace(T, '"instances": 1,', '"instances": 1'),
    "option never used": replace(T, '"KUBE_MESOS_LOG_FORMAT": "{{service.log_format}}",', ""),
    "framework name label differs": replace(T, '"DCOS_PACKAGE_FRAMEWORK_NAME": "{{service.name}}"', '"DCOS_PACKAGE_FRAMEWORK_NAME": "kube"'),
    "unknown package.json field": replace("package.json", '"selected": false', '"selected": false, "homepage": "x"'),
    "package name pattern": replace("package.json", '"name": "kube-mesos"', '"name": "Kube_Mesos"'),
    "4.0 package without upgradesFrom": replace("package.json", '"upgradesFrom": ["*"],', ""),
    "non-ASCII package.json": replace("package.json", "Run unmodified", "Run unmodifi\u00e9d"),
    "option without default": replace("config.json", '"default": "binpack"', '"title": "policy"'),
    "config.json not draft-04": replace("config.json", '"exclusiveMinimum": true', '"exclusiveMinimum": 0'),
    "resource.json unknown field": replace("resource.json", '"assets"', '"asset"'),
}


def main():
    missed = []
    for name, mutate in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            pkg = pathlib.Path(tmp) / "dcos"
            shutil.copytree(check_dcos.PACKAGE_DIR, pkg)
            mutate(pkg)
            try:
                check_dcos.check_package(pkg, sys.argv[1], OPTIONS)
            except check_dcos.CheckFailed as e:
                print(f"ok: {name}: {str(e).splitlines()[0][:120]}")
                continue
            missed.append(name)
            print(f"MISSED: {name}")
    print(f"{len(CASES) - len(missed)} passed, {len(missed)} failed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
