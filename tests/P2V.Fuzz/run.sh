#!/usr/bin/env bash
# Fuzzes one parser of untrusted bytes with AFL++ and SharpFuzz (targets: tests/P2V.Fuzz/Targets.cs).
# Usage: tests/P2V.Fuzz/run.sh TARGET [SECONDS]
#   TARGET: vhd-footer vhd-header vhdx-header vhdx-regions vhdx-metadata vhdx-log open mbr gpt disk-layout
#           ntfs-boot ntfs-record ntfs-index ntfs-runlist fat image-header image-frame image-trailer image-footer image zstd-chunk
#           regf bcd pe cab inf
# Findings land in $OUT (default /tmp/p2v-fuzz/TARGET/findings/default/crashes); replay one with
#   dotnet /tmp/p2v-fuzz/app/P2V.Fuzz.dll TARGET FILE
# The last line says how many executions AFL ran and what it found.
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?target}; seconds=${2:-60}
root=/tmp/p2v-fuzz; app=$root/app; out=${OUT:-$root/$target}
# AFL++ brings LLVM with it: installed here, on first use, rather than by tools/setup for every test run.
command -v afl-fuzz >/dev/null || { echo "fuzz: installing afl++" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q afl++ >/dev/null; }
tool=$root/tool/sharpfuzz
[ -x "$tool" ] || dotnet tool install --tool-path "$root/tool" SharpFuzz.CommandLine --version 2.3.0 >/dev/null
if [ ! -f "$app/.instrumented" ] || [ -n "$(find src/P2V.Imaging src/P2V.Windows tests/P2V.Fuzz -name '*.cs' -newer "$app/.instrumented")" ]; then
  rm -rf "$app"
  P2V_ARTIFACTS= dotnet publish tests/P2V.Fuzz -c Release -o "$app" -v q -nologo >/dev/null
  # What only our writers make (an image, an empty hive), before instrumentation.
  rm -rf "$root/own-seeds"
  dotnet "$app/P2V.Fuzz.dll" seeds "$root/own-seeds"
  "$tool" "$app/P2V.Imaging.dll" >/dev/null
  "$tool" "$app/P2V.Windows.dll" >/dev/null
  touch "$app/.instrumented"
fi
own=$root/own-seeds

# Seeds: structures cut out of small files that real tools make.
seeds=$out/seeds; rm -rf "$seeds"; mkdir -p "$seeds"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cut() { dd if="$1" of="$2" bs=1 skip="$3" count="$4" status=none; }
hive() { # NAME REG-TEXT: our empty hive, filled by hivexregedit --merge
  cp "$own/empty.hive" "$tmp/$1"; printf 'Windows Registry Editor Version 5.00\n\n%s' "$2" > "$tmp/$1.reg"
  hivexregedit --merge "$tmp/$1" "$tmp/$1.reg"; cp "$tmp/$1" "$seeds/$1"; }
ntfs() { truncate -s 2M "$tmp/ntfs.img"; mkntfs -F -Q -q -s 512 -c 4096 -L FUZZ "$tmp/ntfs.img" >/dev/null; }
mft() { python3 -c "import struct;b=open('$tmp/ntfs.img','rb').read(512);print(struct.unpack_from('<q',b,0x30)[0]*512*b[0x0d])"; }
case $target in
  vhd-*|vhdx-*|open)
    qemu-img create -q -f vpc "$tmp/d.vhd" 8M
    qemu-img create -q -f vhdx -o block_size=1M "$tmp/d.vhdx" 8M ;;
esac
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
  mbr|disk-layout)
    truncate -s 256K "$tmp/dos.img"
    printf 'label: dos\nstart=64, size=64, type=7, bootable\nstart=128, size=300, type=5\nstart=160, size=40, type=83\nstart=220, size=40, type=c\n' | sfdisk -q --no-reread --no-tell-kernel "$tmp/dos.img"
    if [ "$target" = mbr ]; then head -c 512 "$tmp/dos.img" > "$seeds/mbr"; cut "$tmp/dos.img" "$seeds/ebr" $((128 * 512)) 512
    else cp "$tmp/dos.img" "$seeds/dos"; fi ;;&
  gpt|disk-layout)
    truncate -s 256K "$tmp/gpt.img"
    printf 'label: gpt\nstart=64, size=64, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="data"\nstart=200, size=100, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n' | sfdisk -q --no-reread --no-tell-kernel "$tmp/gpt.img"
    if [ "$target" = gpt ]; then cut "$tmp/gpt.img" "$seeds/gpt" 512 $((33 * 512)); else cp "$tmp/gpt.img" "$seeds/gpt"; fi ;;
  mbr|gpt|disk-layout) ;;
  ntfs-boot) ntfs; head -c 512 "$tmp/ntfs.img" > "$seeds/boot" ;;
  ntfs-record) ntfs; m=$(mft); for r in 0 5 6; do cut "$tmp/ntfs.img" "$seeds/record$r" $((m + r * 1024)) 1024; done ;;
  ntfs-index) ntfs; o=$(python3 -c "d=open('$tmp/ntfs.img','rb').read();print(d.find(b'INDX'))"); cut "$tmp/ntfs.img" "$seeds/indx" "$o" 4096 ;;
  ntfs-runlist) # the mapping pairs of $MFT's and $Bitmap's non-resident $DATA
    ntfs; m=$(mft)
    python3 - "$tmp/ntfs.img" "$m" "$seeds" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read(); m = int(sys.argv[2])
for r in (0, 6):
    rec = d[m + r * 1024: m + r * 1024 + 1024]; a = struct.unpack_from('<H', rec, 0x14)[0]
    while a < 1024 and struct.unpack_from('<I', rec, a)[0] != 0xFFFFFFFF:
        t, l = struct.unpack_from('<II', rec, a)
        if t == 0x80 and rec[a + 8]: open(f'{sys.argv[3]}/runs{r}', 'wb').write(rec[a + struct.unpack_from('<H', rec, a + 0x20)[0]: a + l])
        a += l
PY
    ;;
  fat)
    for bits in 12 16; do
      size=$([ $bits = 12 ] && echo 128 || echo 900)
      mkfs.fat -C -F $bits -n FUZZ "$tmp/fat$bits.img" $size >/dev/null
      echo "boot.ini" > "$tmp/BOOT.INI"; mcopy -i "$tmp/fat$bits.img" "$tmp/BOOT.INI" ::/BOOT.INI; mmd -i "$tmp/fat$bits.img" ::/WINDOWS
      cp "$tmp/fat$bits.img" "$seeds/"
    done ;;
  image) cp "$own/image" "$seeds/" ;;
  image-header|image-frame|image-trailer|image-footer|zstd-chunk) cp "$own/$target" "$seeds/" ;;
  regf) hive system '[\ControlSet001]

[\ControlSet001\Services]

[\ControlSet001\Services\atapi]
"Start"=dword:00000000
"ImagePath"="system32\\drivers\\atapi.sys"
"Group"=hex(7):53,00,43,00,53,00,49,00,00,00,00,00

[\Select]
"Current"=dword:00000001
' ;;
  bcd) hive bcd '[\Objects]

[\Objects\{9dea862c-5cdd-4e70-acc1-f32b344d4795}]

[\Objects\{9dea862c-5cdd-4e70-acc1-f32b344d4795}\Description]
"Type"=dword:10100002

[\Objects\{9dea862c-5cdd-4e70-acc1-f32b344d4795}\Elements]

[\Objects\{9dea862c-5cdd-4e70-acc1-f32b344d4795}\Elements\23000003]
"Element"="{6a6c1f1b-59d4-11ea-9438-9dd8a2c0d2d1}"

[\Objects\{6a6c1f1b-59d4-11ea-9438-9dd8a2c0d2d1}]

[\Objects\{6a6c1f1b-59d4-11ea-9438-9dd8a2c0d2d1}\Description]
"Type"=dword:10200003

[\Objects\{6a6c1f1b-59d4-11ea-9438-9dd8a2c0d2d1}\Elements]

[\Objects\{6a6c1f1b-59d4-11ea-9438-9dd8a2c0d2d1}\Elements\12000004]
"Element"="Windows Server"

[\Objects\{6a6c1f1b-59d4-11ea-9438-9dd8a2c0d2d1}\Elements\22000002]
"Element"="\\Windows"
' ;;
  pe)
    printf '1 VERSIONINFO\nFILEVERSION 5,2,3790,3959\nPRODUCTVERSION 5,2,3790,3959\nBEGIN\n BLOCK "StringFileInfo"\n BEGIN\n  BLOCK "040904B0"\n  BEGIN\n   VALUE "OriginalFilename", "hal.dll"\n   VALUE "FileVersion", "5.2.3790.3959"\n  END\n END\n BLOCK "VarFileInfo"\n BEGIN\n  VALUE "Translation", 0x409, 1200\n END\nEND\n' > "$tmp/v.rc"
    i686-w64-mingw32-windres -i "$tmp/v.rc" -O coff -o "$tmp/v.o"
    echo 'int Stub(void){return 0;}' > "$tmp/s.c"
    i686-w64-mingw32-gcc -s -shared -o "$seeds/hal.dll" "$tmp/s.c" "$tmp/v.o" ;;
  cab)
    head -c 3000 /dev/urandom > "$tmp/random.bin"; seq 1 800 > "$tmp/text.txt"
    (cd "$tmp" && gcab -c -z "$seeds/mszip.cab" random.bin text.txt && gcab -c "$seeds/stored.cab" text.txt) ;;
  inf)
    printf '[Version]\r\nSignature="$Windows NT$"\r\nClass=SCSIAdapter\r\n[Manufacturer]\r\n%%M%% = M,NTx86.5.1 ; c\r\n[M.NTx86.5.1]\r\n%%D%% = i, PCI\\VEN_1AF4&DEV_1001, \\\r\n  PCI\\VEN_1AF4&DEV_1042\r\n[r]\r\nHKR,,E,0x00020000,"%%%%SystemRoot%%%%\\x ""q"""\r\n[Strings]\r\nM="Red Hat, Inc."\r\nD=disk\r\n' > "$seeds/viostor.inf" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
rm -rf "$out/findings"
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1
afl-fuzz -i "$seeds" -o "$out/findings" -t 10000 -m none -V "$seconds" -- dotnet "$app/P2V.Fuzz.dll" "$target" >"$out/afl.log" 2>&1 || { tail -20 "$out/afl.log" >&2; }
crashes=$(find "$out/findings" -path '*crashes*' -type f ! -name README.txt 2>/dev/null | wc -l)
hangs=$(find "$out/findings" -path '*hangs*' -type f 2>/dev/null | wc -l)
execs=$(awk -F: '/^execs_done/ { gsub(/ /, "", $2); print $2 }' "$out/findings/default/fuzzer_stats" 2>/dev/null || echo "?")
echo "fuzz $target: ${seconds}s, $execs executions, $crashes crashes, $hangs hangs (in $out/findings)"
