#!/usr/bin/env bash
# Builds the netboot test's marker boot image: Debian's kernel (linux-image-amd64, /boot/vmlinuz-*) and a tiny
# busybox-static initramfs whose /init prints "P2V-NETBOOT-MARKER role=... mac=..." on the serial console and
# powers off. Output: OUT/vmlinuz and OUT/initrd.img (default /tmp/p2v-netboot-marker), reused while newer than
# this script. Usage: boot/marker/build-marker.sh [OUT]
set -euo pipefail
out=${1:-/tmp/p2v-netboot-marker}
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && [ "$out/initrd.img" -nt "$0" ]; then
  echo "$out"; exit 0
fi
kernel=$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n1)
[ -n "$kernel" ] || { echo "build-marker: no /boot/vmlinuz-* (install linux-image-amd64)" >&2; exit 1; }
busybox=/bin/busybox
[ -x "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q static || busybox=$(command -v busybox)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys}
cp "$busybox" "$stage/bin/busybox"
cat > "$stage/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
/bin/busybox mount -t proc proc /proc
role=unknown; mac=unknown
for word in $(/bin/busybox cat /proc/cmdline); do
  case "$word" in
    p2v.role=*) role=${word#p2v.role=} ;;
    p2v.mac=*) mac=${word#p2v.mac=} ;;
  esac
done
echo "P2V-NETBOOT-MARKER role=$role mac=$mac" > /dev/console
echo "P2V-NETBOOT-MARKER role=$role mac=$mac" > /dev/ttyS0 2>/dev/null
/bin/busybox sync
/bin/busybox poweroff -f
INIT
chmod 755 "$stage/init"
cpio=(cpio -o -H newc --quiet)
command -v cpio >/dev/null || cpio=("$busybox" cpio -o -H newc)
(cd "$stage" && find . | "${cpio[@]}" 2>/dev/null | gzip -1) > "$out/initrd.img.tmp"
cp "$kernel" "$out/vmlinuz.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.img.tmp" "$out/initrd.img"
echo "$out"
