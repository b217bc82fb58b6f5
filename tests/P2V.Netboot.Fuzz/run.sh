#!/usr/bin/env bash
# Fuzzes one network packet parser with AFL++ and SharpFuzz.
# Usage: tests/P2V.Netboot.Fuzz/run.sh TARGET [SECONDS]   (TARGET: dhcp tftp-request tftp-packet)
# Findings land in $OUT (default /tmp/p2v-netboot-fuzz/TARGET/findings/default/crashes); replay one with
#   dotnet /tmp/p2v-netboot-fuzz/app/P2V.Netboot.Fuzz.dll TARGET FILE
# and turn it into a case in tests/P2V.Netboot.Tests/PacketParserTests.cs.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?target}; seconds=${2:-60}
root=/tmp/p2v-netboot-fuzz; app=$root/app; out=${OUT:-$root/$target}
# AFL++ brings LLVM with it: installed here, on first use, rather than by tools/setup for every test run.
command -v afl-fuzz >/dev/null || { echo "fuzz: installing afl++" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q afl++ >/dev/null; }
tool=$root/tool/sharpfuzz
[ -x "$tool" ] || dotnet tool install --tool-path "$root/tool" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
if [ ! -f "$app/.instrumented" ] || [ -n "$(find src/P2V.Netboot tests/P2V.Netboot.Fuzz -name '*.cs' -newer "$app/.instrumented")" ]; then
  rm -rf "$app"
  P2V_ARTIFACTS= dotnet publish tests/P2V.Netboot.Fuzz -c Release -o "$app" -v q -nologo >/dev/null
  # Seeds come from our own encoder, run before instrumentation (instrumented code needs AFL's shared memory).
  rm -rf "$root/all-seeds"
  dotnet "$app/P2V.Netboot.Fuzz.dll" seeds "$root/all-seeds"
  "$tool" "$app/P2V.Netboot.dll" >/dev/null
  touch "$app/.instrumented"
fi
seeds=$out/seeds; mkdir -p "$seeds"
all=$root/all-seeds
case $target in
  dhcp) cp "$all"/dhcp-* "$seeds/" ;;
  tftp-request) cp "$all"/tftp-rrq "$seeds/" ;;
  tftp-packet) cp "$all"/tftp-* "$seeds/" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1
afl-fuzz -i "$seeds" -o "$out/findings" -t 10000 -m none -V "$seconds" -- dotnet "$app/P2V.Netboot.Fuzz.dll" "$target" || true
crashes=$(find "$out/findings" -path '*crashes*' -type f ! -name README.txt 2>/dev/null | wc -l)
hangs=$(find "$out/findings" -path '*hangs*' -type f 2>/dev/null | wc -l)
echo "fuzz $target: ${seconds}s, $crashes crashes, $hangs hangs (in $out/findings)"
