#!/usr/bin/env bash
# Fuzzes one virtual-disk parser with AFL++ and SharpFuzz.
# Usage: tests/P2V.Fuzz/run.sh TARGET [SECONDS]   (TARGET: vhd-footer vhd-header vhdx-header vhdx-regions vhdx-metadata vhdx-log open)
# Findings land in $OUT (default /tmp/p2v-fuzz/TARGET/findings/default/crashes); replay one with
#   dotnet /tmp/p2v-fuzz/app/P2V.Fuzz.dll TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?target}; seconds=${2:-60}
root=/tmp/p2v-fuzz; app=$root/app; out=${OUT:-$root/$target}
# AFL++ brings LLVM with it: installed here, on first use, rather than by tools/setup for every test run.
command -v afl-fuzz >/dev/null || { echo "fuzz: installing afl++" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q afl++ >/dev/null; }
tool=$root/tool/sharpfuzz
[ -x "$tool" ] || dotnet tool install --tool-path "$root/tool" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
if [ ! -f "$app/.instrumented" ] || [ -n "$(find src/P2V.Imaging tests/P2V.Fuzz -name '*.cs' -newer "$app/.instrumented")" ]; then
  rm -rf "$app"
  dotnet publish tests/P2V.Fuzz -c Release -o "$app" -v q -nologo >/dev/null
  "$tool" "$app/P2V.Imaging.dll" >/dev/null
  touch "$app/.instrumented"
fi

# Seeds: structures cut out of small files qemu-img makes.
seeds=$out/seeds; mkdir -p "$seeds"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
qemu-img create -q -f vpc "$tmp/d.vhd" 8M
qemu-img create -q -f vhdx -o block_size=1M "$tmp/d.vhdx" 8M
case $target in
  vhd-footer) tail -c 512 "$tmp/d.vhd" > "$seeds/footer" ;;
  vhd-header) dd if="$tmp/d.vhd" of="$seeds/header" bs=512 skip=1 count=2 status=none ;;
  vhdx-header) dd if="$tmp/d.vhdx" of="$seeds/header" bs=4096 skip=16 count=1 status=none ;;
  vhdx-regions) dd if="$tmp/d.vhdx" of="$seeds/regions" bs=65536 skip=3 count=1 status=none ;;
  vhdx-metadata)
    off=$(python3 -c "import struct,sys;d=open('$tmp/d.vhdx','rb').read();r=d[196608:196608+65536];n=struct.unpack_from('<I',r,8)[0];print([struct.unpack_from('<Q',r,16+i*32+16)[0] for i in range(n) if r[16+i*32:16+i*32+4]==bytes.fromhex('06a27c8b')][0])")
    dd if="$tmp/d.vhdx" of="$seeds/metadata" bs=4096 skip=$((off / 4096)) count=17 status=none ;;
  vhdx-log)
    qemu-io -f vhdx -c "write -P 9 0 64k" -c "write -P 8 2M 4k" "$tmp/d.vhdx" >/dev/null
    dd if="$tmp/d.vhdx" of="$seeds/log" bs=4096 skip=256 count=16 status=none ;;
  open) cp "$tmp/d.vhd" "$seeds/dynamic.vhd"; qemu-img create -q -f vpc "$tmp/w.vhd" 3M; qemu-io -f vpc -c "write -P 7 1M 4k" "$tmp/w.vhd" >/dev/null; cp "$tmp/w.vhd" "$seeds/written.vhd" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1
afl-fuzz -i "$seeds" -o "$out/findings" -t 10000 -m none -V "$seconds" -- dotnet "$app/P2V.Fuzz.dll" "$target" || true
crashes=$(find "$out/findings" -path '*crashes*' -type f ! -name README.txt 2>/dev/null | wc -l)
hangs=$(find "$out/findings" -path '*hangs*' -type f 2>/dev/null | wc -l)
echo "fuzz $target: ${seconds}s, $crashes crashes, $hangs hangs (in $out/findings)"
