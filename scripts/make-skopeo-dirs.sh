#!/usr/bin/env bash
# skopeo `dir:` copies of the conformance images (fixtures/skopeo-dir/<case>/<variant>/), made by real
# skopeo from the committed archives. Each must export to its case's export.tar (test/skopeo-dir.test.ts).
#   v2s2       skopeo copy docker-archive:image.tar dir:…                         (docker v2s2, layers as stored)
#   oci-gzip   … --format oci --dest-compress                                   (OCI manifest, gzip layers)
#   oci-zstd   … --format oci --dest-compress --dest-compress-format zstd        (OCI manifest, zstd layers)
# The two natural (busybox) images get only oci-zstd, to keep the fixtures small.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fixtures/skopeo-dir
rm -rf "$out" && mkdir -p "$out"
for dir in fixtures/conformance/*/; do
  name=$(basename "$dir")
  [ -f "$dir/image.tar" ] || continue
  variants="v2s2 oci-gzip oci-zstd"
  case "$name" in natural-*) variants="oci-zstd" ;; esac
  for v in $variants; do
    case "$v" in
      v2s2) flags=() ;;
      oci-gzip) flags=(--format oci --dest-compress) ;;
      oci-zstd) flags=(--format oci --dest-compress --dest-compress-format zstd) ;;
    esac
    mkdir -p "$out/$name"
    skopeo copy -q "${flags[@]}" "docker-archive:$dir/image.tar" "dir:$out/$name/$v"
  done
done
skopeo --version > "$out/skopeo-version.txt"
du -sh "$out"
