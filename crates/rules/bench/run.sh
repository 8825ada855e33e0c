#!/usr/bin/env bash
# Signature-matching cost, Palisade vs Suricata 7, same rules and same captures, same run (issue 11).
# Usage: crates/rules/bench/run.sh [REPEATS]   (from the repository root, after `cargo build --release`)
# Prints CPU seconds (user+sys) per run and packets per CPU-second; the best of REPEATS runs is kept
# because other jobs share this machine. Needs ../shared (et-open-iot, iot23) and suricata.
set -euo pipefail
REPEATS=${1:-3}
BIN=${BIN:-target/release/palisade}
SHARED=${SHARED:-../shared}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
command -v suricata >/dev/null || { echo "suricata not installed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "$BIN missing: cargo build --release -p palisade" >&2; exit 1; }

# The supported rules, de-duplicated, drop -> alert (Suricata in IDS mode), like the oracle test.
mkdir -p "$WORK/rules" "$WORK/pcaps"
python3 - "$SHARED/kb/et-open-iot" "$WORK/rules/iot.rules" <<'PY'
import glob, re, sys
seen, out = set(), []
for f in sorted(glob.glob(sys.argv[1] + "/*.rules")):
    for l in open(f):
        l = l.strip()
        if not l or l.startswith("#"):
            continue
        m = re.search(r"sid:\s*(\d+);", l)
        if not m or m.group(1) in seen:
            continue
        seen.add(m.group(1))
        out.append("alert " + l[5:] if l.startswith("drop ") else l)
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
# Keep only what Palisade supports (the same set for both engines).
"$BIN" rules check --verbose "$WORK/rules" > "$WORK/check.txt" || true
python3 - "$WORK/check.txt" "$WORK/rules/iot.rules" <<'PY'
import re, sys
bad = {int(m.group(1)) for m in re.finditer(r"^iot\.rules:(\d+) ", open(sys.argv[1]).read(), re.M)}
lines = open(sys.argv[2]).read().splitlines()
open(sys.argv[2], "w").write("\n".join(l for i, l in enumerate(lines, 1) if i not in bad) + "\n")
PY
cp "$SHARED/kb/et-open-iot/classification.config-2020" "$WORK/rules/classification.config"
echo "rules: $(wc -l < "$WORK/rules/iot.rules")"

# The demo captures are deterministic per seed: generated once, kept in target/.
CACHE=target/rules-bench-pcaps
mkdir -p "$CACHE"
for s in 1 2 3 4 5 6; do
  [ -s "$CACHE/demo$s.pcap" ] || "$BIN" demo --seed "$s" --write-pcap "$CACHE/demo$s.pcap" -o /dev/null >/dev/null 2>&1
  cp "$CACHE/demo$s.pcap" "$WORK/pcaps/"
done
cp "$SHARED"/datasets/iot23/CTU-Honeypot-Capture-4-1/*.pcap "$WORK/pcaps/" 2>/dev/null || true
cp "$SHARED"/datasets/iot23/CTU-IoT-Malware-Capture-34-1/*.pcap "$WORK/pcaps/" 2>/dev/null || true
PKTS=0
for p in "$WORK"/pcaps/*.pcap; do
  n=$(capinfos -Mc "$p" 2>/dev/null | awk -F'\t|: *' '/Number of packets/ {print $NF}' | tr -d ' ')
  PKTS=$((PKTS + ${n:-0}))
done
echo "input: $(ls "$WORK"/pcaps | wc -l) captures, $PKTS packets, $(du -cb "$WORK"/pcaps/*.pcap | tail -1 | cut -f1) bytes"

cpu() { # prints user+sys CPU seconds of the command (bash's times of the finished child)
  local out="$WORK/cpu.$$"
  ( "$@" >/dev/null 2>&1; times > "$out" )
  # `times` prints the shell's then the children's user/sys as NmS.SSSs.
  tail -1 "$out" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%.3f", t }'
}
best() { sort -g | head -1; }
run_pal_norules() { for _ in $(seq "$REPEATS"); do cpu "$BIN" analyze --format json -o /dev/null "$WORK"/pcaps/*.pcap; echo; done | best; }
run_pal() { for _ in $(seq "$REPEATS"); do cpu "$BIN" analyze --rules "$WORK/rules" --format json -o /dev/null "$WORK"/pcaps/*.pcap; echo; done | best; }
run_sur() {
  for _ in $(seq "$REPEATS"); do
    rm -rf "$WORK/slog"; mkdir -p "$WORK/slog"
    cpu suricata -k none --runmode single -r "$WORK/pcaps" -S "$WORK/rules/iot.rules" -l "$WORK/slog" \
      --set classification-file=/etc/suricata/classification.config; echo
  done | best
}
run_sur_empty() { # start-up cost: the rules loaded, one packet
  mkdir -p "$WORK/empty"; editcap -r "$WORK/pcaps/demo1.pcap" "$WORK/empty/e.pcap" 1 2>/dev/null
  for _ in $(seq "$REPEATS"); do
    rm -rf "$WORK/slog"; mkdir -p "$WORK/slog"
    cpu suricata -k none --runmode single -r "$WORK/empty/e.pcap" -S "$WORK/rules/iot.rules" -l "$WORK/slog" \
      --set classification-file=/etc/suricata/classification.config; echo
  done | best
}
P0=$(run_pal_norules); P=$(run_pal); S=$(run_sur); S0=$(run_sur_empty)
echo "date: $(date -u +%FT%TZ)  host: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)  suricata: $(suricata -V | head -1)"
awk -v n="$PKTS" -v p0="$P0" -v p="$P" -v s="$S" -v s0="$S0" 'BEGIN {
  printf "palisade analyze (no rules)      %6.3f CPU-s  %9.0f pkt/CPU-s\n", p0, n / p0
  printf "palisade analyze --rules         %6.3f CPU-s  %9.0f pkt/CPU-s\n", p, n / p
  printf "suricata -S (single runmode)     %6.3f CPU-s  %9.0f pkt/CPU-s\n", s, n / s
  printf "suricata start-up (1 packet)     %6.3f CPU-s\n", s0
  printf "ratio with rules (whole runs):       %.1fx\n", s / p
  printf "ratio excluding suricata start-up:  %.1fx\n", (s - s0) / p
}'
