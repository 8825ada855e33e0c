#!/usr/bin/env bash
# Throughput and memory benchmark: Palisade vs Suricata 7 (no rules) vs tshark (full dissection), side by side in one
# run on the same inputs. Run from the repository root after `cargo build --release`:
#
#   bash bench/run.sh
#
# Environment (all optional):
#   BENCH_COPIES=5          time-shifted copies in the large input (the merged real captures are ~0.5 M packets each)
#   BENCH_REPEAT=3          runs per measurement; the median of each metric is reported
#   BENCH_FLOOD_SOURCES=1000000   distinct spoofed sources in the synthetic SYN flood (memory per flow)
#   BENCH_DEVICES=16000     distinct source MACs in the synthetic device capture (memory per device; the device cap
#                           is 16,384, so keep it below that)
#   BENCH_TSHARK_BIG=1      0: run tshark on the 0.5 M input only (it keeps per-packet state, so it is slow and big)
#   BENCH_SKIP_MEMORY=0     1: skip the synthetic memory benchmarks
#   BENCH_NO_INSTALL=0      1: never call apt-get; peers that are missing are skipped
#   BENCH_OUT=FILE          also write the final Markdown report to FILE
#   DATASETS=../shared/datasets   BIN=target/release/palisade
#
# Inputs are built in a fresh temporary directory (mktemp -d) and deleted at exit; nothing is written to the repo.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${BIN:-target/release/palisade}
DATASETS=${DATASETS:-../shared/datasets}
COPIES=${BENCH_COPIES:-5}
REPEAT=${BENCH_REPEAT:-3}
FLOOD=${BENCH_FLOOD_SOURCES:-1000000}
NDEV=${BENCH_DEVICES:-16000}
TSHARK_BIG=${BENCH_TSHARK_BIG:-1}
SKIP_MEMORY=${BENCH_SKIP_MEMORY:-0}
NO_INSTALL=${BENCH_NO_INSTALL:-0}
TIME=/usr/bin/time

say() { printf '[bench] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ---------------------------------------------------------------- 1. tools
apt_ok() { [ "$NO_INSTALL" != 1 ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; }
apt_updated=0
apt_install() { # apt-get install args...
  apt_ok || return 1
  if [ $apt_updated -eq 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}
ensure_tools() {
  [ -x "$TIME" ] || apt_install time || die "GNU time ($TIME) is required: apt-get install time"
  command -v python3 >/dev/null || die "python3 is required (synthetic pcaps, report)"
  if ! command -v mergecap >/dev/null || ! command -v editcap >/dev/null || ! command -v capinfos >/dev/null \
     || ! command -v tshark >/dev/null; then
    say "installing wireshark-common and tshark"
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    apt_install wireshark-common tshark || say "could not install wireshark-common/tshark (not root, no apt, or offline)"
  fi
  for t in mergecap editcap capinfos; do
    command -v $t >/dev/null || die "$t (Debian package wireshark-common) is required to build the benchmark input"
  done
  command -v tshark >/dev/null || say "tshark missing: the tshark peer is skipped"
  if ! command -v suricata >/dev/null; then
    say "installing Suricata 7 from bookworm-backports"
    if apt_ok && bash "$DATASETS/../tools/enable-backports.sh" >/dev/null 2>&1; then
      apt_install -t bookworm-backports suricata || say "could not install suricata from bookworm-backports"
    else
      say "could not enable bookworm-backports (not root, no apt, or ../shared/tools missing)"
    fi
  fi
  command -v suricata >/dev/null || say "suricata missing: the Suricata peer is skipped"
}

[ -x "$BIN" ] || die "no $BIN: build it first (cargo build --release)"
[ -d "$DATASETS/iot-sentinel" ] || die "no $DATASETS/iot-sentinel: the benchmark needs ../shared/datasets"
ensure_tools
have() { command -v "$1" >/dev/null; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
RAW=$T/raw.tsv; INPUTS=$T/inputs.tsv; META=$T/meta.tsv
: > "$RAW"; : > "$INPUTS"; : > "$META"

# ---------------------------------------------------------------- 2. inputs
say "building inputs in $T"
# shellcheck disable=SC2046  # the file list is meant to be split (paths have no spaces)
mergecap -F pcap -w "$T/merged.pcap" $(find "$DATASETS/iot-sentinel" "$DATASETS/iot-ondemand-cset21" \
  "$DATASETS/iot23" "$DATASETS/ddos-stopddos" -name '*.pcap' | sort)
read -r _ first last < <(capinfos -T -r -a -e -S "$T/merged.pcap")
step=$(( ${last%.*} - ${first%.*} + 1 + 86400 ))
parts=()
for ((i = 0; i < COPIES; i++)); do
  editcap -F pcap -t $(( i * step )) "$T/merged.pcap" "$T/part$i.pcap"
  parts+=("$T/part$i.pcap")
done
mergecap -F pcap -a -w "$T/big.pcap" "${parts[@]}"
rm -f "${parts[@]}"

describe() { # name file
  local pk db fs
  pk=$(capinfos -c -M "$2" | awk -F': *' '/Number of packets/{print $2}')
  db=$(capinfos -d -M "$2" | awk -F': *' '/Data size/{print $2+0}')
  fs=$(stat -c %s "$2")
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$pk" "$db" "$fs" >> "$INPUTS"
  say "$(printf '%-10s %10s packets  %12s bytes on the wire  %12s bytes on disk' "$1" "$pk" "$db" "$fs")"
}
describe merged "$T/merged.pcap"
describe "merged×$COPIES" "$T/big.pcap"

# ---------------------------------------------------------------- 3. throughput, side by side
# run_one SECTION LABEL INPUTNAME REP -- command...   records wall, user, sys, max RSS (KiB)
run_one() {
  local sec=$1 label=$2 inp=$3 rep=$4; shift 5
  local rc=0
  "$TIME" -f '%e %U %S %M' -o "$T/time" "$@" >"$T/stdout" 2>"$T/stderr" || rc=$?
  [ $rc -eq 0 ] || say "warning: $label on $inp exited $rc: $(tail -c 300 "$T/stderr" | tr '\n' ' ')"
  read -r e u s m < <(tail -n 1 "$T/time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sec" "$label" "$inp" "$rep" "$e" "$u" "$s" "$m" "$rc" >> "$RAW"
}
cmdline() { # record the exact command of a label once
  local label=$1; shift
  grep -q "^cmd	$label	" "$META" || printf 'cmd\t%s\t%s\n' "$label" "$*" >> "$META"
}

throughput() { # name file
  local name=$1 f=$2 r
  for ((r = 1; r <= REPEAT; r++)); do
    say "throughput on $name, round $r/$REPEAT"
    run_one tp "palisade --threads 1" "$name" $r -- "$BIN" analyze --threads 1 --format json -o /dev/null "$f"
    cmdline "palisade --threads 1" palisade analyze --threads 1 --format json -o /dev/null FILE
    run_one tp "palisade --threads 2" "$name" $r -- "$BIN" analyze --threads 2 --format json -o /dev/null "$f"
    cmdline "palisade --threads 2" palisade analyze --threads 2 --format json -o /dev/null FILE
    if have suricata; then
      rm -rf "$T/su"; mkdir -p "$T/su"
      run_one tp "suricata single" "$name" $r -- suricata -r "$f" -k none -l "$T/su" --runmode single
      cmdline "suricata single" suricata -r FILE -k none -l TMPDIR --runmode single
      grep -q "read 1 file, $(awk -F'\t' -v n="$name" '$1==n{print $3}' "$INPUTS") packets" "$T/stdout" "$T/stderr" \
        || say "warning: suricata did not report reading every packet of $name"
      rm -rf "$T/su"; mkdir -p "$T/su"
      run_one tp "suricata default" "$name" $r -- suricata -r "$f" -k none -l "$T/su"
      cmdline "suricata default" suricata -r FILE -k none -l TMPDIR
      rm -rf "$T/su"
    fi
    if have tshark && { [ "$name" = merged ] || [ "$TSHARK_BIG" = 1 ]; }; then
      run_one tp "tshark" "$name" $r -- tshark -n -r "$f" -q -Y frame
      cmdline "tshark" tshark -n -r FILE -q -Y frame
    fi
  done
  # Sanity: Palisade saw every packet.
  "$BIN" analyze --threads 1 --format json -o "$T/check.json" "$f" 2>/dev/null || true
  python3 - "$T/check.json" "$name" >> "$META" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print("summary\t%s\t%s" % (sys.argv[2], json.dumps(s)))
PY
}
uptime_load() { cut -d' ' -f1-3 /proc/loadavg; }
printf 'load_before\t%s\n' "$(uptime_load)" >> "$META"
throughput merged "$T/merged.pcap"
throughput "merged×$COPIES" "$T/big.pcap"
[ "$TSHARK_BIG" = 1 ] || printf 'note\ttshark ran on the merged input only (BENCH_TSHARK_BIG=0)\n' >> "$META"
rm -f "$T/big.pcap"

# ---------------------------------------------------------------- 4. memory per flow / per device (synthetic)
mem() { # KEY "description" file extra-args...   (REPEAT runs, then one more for the JSON summary)
  local key=$1 desc=$2 f=$3 r; shift 3
  printf 'memlabel\t%s\t%s\n' "$key" "$desc" >> "$META"
  for ((r = 1; r <= REPEAT; r++)); do
    run_one mem "$key" "$(basename "$f")" $r -- "$BIN" analyze --threads 1 --format json -o /dev/null "$@" "$f"
  done
  cmdline "$key" palisade analyze --threads 1 --format json -o /dev/null "$@" "$(basename "$f")"
  "$BIN" analyze --threads 1 --format json -o "$T/m.json" "$@" "$f" 2>/dev/null || true
  python3 - "$T/m.json" "$key" >> "$META" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print("summary\t%s\t%s" % (sys.argv[2], json.dumps(s)))
PY
}
if [ "$SKIP_MEMORY" != 1 ]; then
  half=$(( FLOOD / 2 )); big_cap=$(( FLOOD * 2 ))
  say "memory: generating synthetic captures ($FLOOD-source SYN flood, $NDEV devices)"
  python3 "$here/synth.py" tiny "$T/tiny.pcap"
  python3 "$here/synth.py" flood "$T/flood.pcap" "$FLOOD"
  python3 "$here/synth.py" flood "$T/flood-half.pcap" "$half"
  python3 "$here/synth.py" devices "$T/devices.pcap" "$NDEV"
  python3 "$here/synth.py" devices "$T/devices16.pcap" "$NDEV" 16
  python3 "$here/synth.py" devices "$T/devices-over.pcap" $(( NDEV * 4 ))
  printf 'mem\tflood\t%s\nmem\tndev\t%s\n' "$FLOOD" "$NDEV" >> "$META"
  mem startup "1 ARP packet (start-up cost)" "$T/tiny.pcap"
  mem flood_all "SYN flood, $FLOOD sources, --max-flows $big_cap (all tracked)" "$T/flood.pcap" --max-flows "$big_cap"
  mem flood_half "SYN flood, $half sources, --max-flows $big_cap (all tracked)" "$T/flood-half.pcap" --max-flows "$big_cap"
  mem flood_1000 "SYN flood, $FLOOD sources, --max-flows 1000" "$T/flood.pcap" --max-flows 1000
  mem flood_default "SYN flood, $FLOOD sources, default --max-flows (131072)" "$T/flood.pcap"
  mem dev_n "$NDEV distinct MACs (ARP + DHCP DISCOVER each)" "$T/devices.pcap"
  mem dev_16 "same $(( NDEV * 2 )) packets from 16 MACs" "$T/devices16.pcap"
  mem dev_over "$(( NDEV * 4 )) distinct MACs (over the 16,384 device cap)" "$T/devices-over.pcap"
  rm -f "$T"/flood*.pcap "$T"/devices*.pcap "$T/tiny.pcap"
fi
printf 'load_after\t%s\n' "$(uptime_load)" >> "$META"

# ---------------------------------------------------------------- 5. report
{
  printf 'nproc\t%s\n' "$(nproc)"
  printf 'cpu\t%s\n' "$(awk -F': *' '/^model name/{print $2; exit}' /proc/cpuinfo)"
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'kernel\t%s\n' "$(uname -r)"
  printf 'ver_palisade\t%s\n' "$("$BIN" --version 2>&1 | head -n 1)"
  if have suricata; then
    printf 'ver_suricata\t%s\n' "$(suricata --build-info 2>&1 | head -n 1)"
    printf 'ver_suricata_simd\t%s\n' "$(suricata --build-info 2>&1 | grep -m1 'SIMD support' || true)"
  fi
  if have tshark; then printf 'ver_tshark\t%s\n' "$(tshark --version 2>/dev/null | head -n 1)"; fi
  printf 'repeat\t%s\ncopies\t%s\n' "$REPEAT" "$COPIES"
} >> "$META"
if [ -n "${BENCH_OUT:-}" ]; then
  python3 "$here/report.py" "$RAW" "$INPUTS" "$META" | tee "$BENCH_OUT"
else
  python3 "$here/report.py" "$RAW" "$INPUTS" "$META"
fi
