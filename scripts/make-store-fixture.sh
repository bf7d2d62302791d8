#!/usr/bin/env bash
# A tiny containers/storage store made by real podman and buildah (rootful, vfs and overlay), copied
# into fixtures/containers-storage/<driver>/ with what the containers-storage: reader reads:
# images.json, layers.json, the tar-split files, the big data (manifest, config) and the regular,
# non-empty files of each diff directory. Everything else (directories, links, devices, owners,
# modes, times) is in the tar-split data; git could not keep it anyway.
# `podman save --format docker-archive` of the same image is save.tar beside each store: the test
# holds the export of containers-storage:[DRIVER@STORE]il-tiny:2 to the export of save.tar.
# Needs root, podman, buildah. Writes only under $WORK (default /tmp/layerfold-store-fixture).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
WORK=${WORK:-/tmp/layerfold-store-fixture}
rm -rf "$WORK" && mkdir -p "$WORK/base"
cat > "$WORK/containers.conf" <<CONF
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
CONF
export CONTAINERS_CONF=$WORK/containers.conf

# the base layer: every entry type, owners, modes, a non-UTF-8 name, a hard link
b=$WORK/base
mkdir -p "$b/etc" "$b/bin" "$b/empty" "$b/opt/keep" "$b/opt/gone/sub" "$b/var/tmp"
printf 'ID=tiny\n' > "$b/etc/os-release"
printf 'root:x:0:0::/:/bin/sh\n' > "$b/etc/passwd"
printf '#!/bin/sh\necho tiny\n' > "$b/bin/tool" && chmod 4755 "$b/bin/tool"
ln "$b/bin/tool" "$b/bin/tool-again"
ln -s tool "$b/bin/link"
mkfifo "$b/var/tmp/fifo"
: > "$b/etc/empty-file"
printf 'latin1\n' > "$b/etc/caf$(printf '\351')"
printf 'keep\n' > "$b/opt/keep/a" && printf 'gone\n' > "$b/opt/gone/sub/b"
head -c 70000 /dev/urandom > "$b/opt/keep/big"
chown -R 123:456 "$b/opt/keep" && chmod 1777 "$b/var/tmp"
touch -h -d '2020-09-13 12:26:40' $(find "$b" -mindepth 1)
tar --numeric-owner -C "$b" -cf "$WORK/base.tar" .

for driver in vfs overlay; do
  store=$WORK/store-$driver
  printf '[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s"\n' "$driver" "$store" "$WORK/run-$driver" > "$WORK/storage-$driver.conf"
  export CONTAINERS_STORAGE_CONF=$WORK/storage-$driver.conf
  podman import "$WORK/base.tar" il-tiny:base >/dev/null
  # the upper layer: a whiteout, an opaque directory, a changed file, a new one (buildah mount: no shell needed)
  ctr=$(buildah from il-tiny:base)
  mnt=$(buildah mount "$ctr")
  rm -rf "$mnt/opt/gone" "$mnt/etc/passwd"
  rm -rf "$mnt/opt/keep" && mkdir "$mnt/opt/keep" && printf 'new\n' > "$mnt/opt/keep/c"
  printf 'ID=tiny2\n' > "$mnt/etc/os-release"
  buildah umount "$ctr" >/dev/null
  buildah config --workingdir /opt/keep --cmd '["/bin/tool"]' "$ctr"
  buildah commit -q "$ctr" il-tiny:2 >/dev/null
  buildah rm "$ctr" >/dev/null
  out=$repo/fixtures/containers-storage/$driver
  rm -rf "$out" && mkdir -p "$out/store"
  podman save -q --format docker-archive -o "$out/save.tar" il-tiny:2
  (cd "$store" && find "$driver-images" "$driver-layers" -type f \( -name '*.json' -o -name '*.tar-split.gz' -o -path "$driver-images/*/*" \) -exec cp --parents -p -t "$out/store" {} +)
  if [ "$driver" = overlay ]; then diffs=$(cd "$store" && find overlay -mindepth 2 -maxdepth 2 -name diff); else diffs=$(cd "$store" && find vfs/dir -mindepth 1 -maxdepth 1); fi
  for d in $diffs; do (cd "$store" && find "$d" -type f -size +0 -exec cp --parents -p -t "$out/store" {} +); done
  podman --version > "$out/podman-version.txt"
done
du -sh "$repo/fixtures/containers-storage"
