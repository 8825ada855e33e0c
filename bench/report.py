#!/usr/bin/env python3
"""Turns the raw measurements of bench/run.sh into a Markdown report (stdout).

usage: report.py RAW.tsv INPUTS.tsv META.tsv
"""
import json
import statistics
import sys
from collections import defaultdict

MIB = 1024 * 1024


def load(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


raw, inputs, meta_rows = (load(p) for p in sys.argv[1:4])
meta, cmds, summaries, memlabels, notes = {}, {}, {}, {}, []
for row in meta_rows:
    k = row[0]
    if k == "cmd":
        cmds[row[1]] = row[2]
    elif k == "summary":
        summaries[row[1]] = json.loads(row[2])
    elif k == "memlabel":
        memlabels[row[1]] = row[2]
    elif k == "note":
        notes.append(row[1])
    elif k == "mem":
        meta["mem_" + row[1]] = row[2]
    else:
        meta[k] = row[1] if len(row) > 1 else ""

packets = {r[0]: int(r[2]) for r in inputs}
runs = defaultdict(list)  # (sec, label, input) -> [(wall, cpu, rss_kib, rc)]
for sec, label, inp, _rep, e, u, s, m, rc in raw:
    runs[(sec, label, inp)].append((float(e), float(u) + float(s), int(m), int(rc)))


def med(key):
    rs = runs[key]
    return (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
            statistics.median(r[2] for r in rs), len(rs), sum(1 for r in rs if r[3] != 0))


def spread(key, i):
    v = [r[i] for r in runs[key]]
    return min(v), max(v)


def fmt_int(x):
    return f"{x:,.0f}"


def rate(n, secs):
    return n / secs if secs > 0 else float("inf")


out = []
p = out.append
p(f"## Palisade benchmark, {meta.get('date', '?')}")
p("")
p(f"- Machine: {meta.get('nproc', '?')} CPUs (`nproc`), {meta.get('cpu', '?')}, Linux {meta.get('kernel', '?')}")
p(f"- Load average before / after: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}")
p(f"- Versions: {meta.get('ver_palisade', 'palisade ?')}; {meta.get('ver_suricata', 'suricata: not installed')}"
  f" ({meta.get('ver_suricata_simd', '').strip()}); {meta.get('ver_tshark', 'tshark: not installed')}")
p(f"- Each figure is the median of {meta.get('repeat', '?')} runs (each metric's median taken on its own); "
  "CPU = user + sys from `/usr/bin/time -f '%e %U %S %M'`, peak RSS = `%M`. Tools run round-robin within a round.")
for n in notes:
    p(f"- Note: {n}")
p("")
p("### Inputs")
p("")
p("| input | packets | bytes on the wire | file size |")
p("|---|---:|---:|---:|")
for name, _path, pk, db, fs in inputs:
    p(f"| {name} | {fmt_int(int(pk))} | {fmt_int(int(db))} | {fmt_int(int(fs))} |")
p("")
p("### Throughput, side by side on the same input")
p("")
p("| input | tool | wall s | CPU s | packets / CPU-s | packets / wall-s | peak RSS MiB | Palisade t1 ÷ tool (pkts/CPU-s) |")
p("|---|---|---:|---:|---:|---:|---:|---:|")
labels = ["palisade --threads 1", "palisade --threads 2", "suricata single", "suricata default", "tshark"]
pps_cpu = {}
for name in packets:
    base = None
    for label in labels:
        key = ("tp", label, name)
        if key not in runs:
            continue
        wall, cpu, rss, n, bad = med(key)
        pc = rate(packets[name], cpu)
        pw = rate(packets[name], wall)
        pps_cpu[(label, name)] = pc
        if label == "palisade --threads 1":
            base = pc
        ratio = f"{base / pc:.1f}×" if base and label != "palisade --threads 1" else "—"
        flag = f" ({bad} runs failed)" if bad else ""
        p(f"| {name} | {label}{flag} | {wall:.2f} | {cpu:.2f} | {fmt_int(pc)} | {fmt_int(pw)} | {rss / 1024:.1f} | {ratio} |")
p("")
p("Spread (min–max CPU s over the runs): " + "; ".join(
    f"{lab} on {inp}: {spread((s, lab, inp), 1)[0]:.2f}–{spread((s, lab, inp), 1)[1]:.2f}"
    for (s, lab, inp) in runs if s == "tp"))
p("")

# Bar from the issue, judged on the largest input (start-up cost amortised).
bigname = max(packets, key=packets.get)
p(f"### Bar (issue \"Sensor core\"), judged on {bigname}")
p("")
if ("tp", "palisade --threads 1", bigname) in runs:
    wall, cpu, rss, _, _ = med(("tp", "palisade --threads 1", bigname))
    pc, pw = rate(packets[bigname], cpu), rate(packets[bigname], wall)
    ok = pc >= 1e6 and pw >= 1e6
    p(f"- Full `analyze --threads 1` ≥ 1,000,000 packets/s on one core: {fmt_int(pc)} per CPU-second, "
      f"{fmt_int(pw)} per wall-second → **{'holds' if ok else 'MISSED'}**")
    for sl in ("suricata default", "suricata single"):
        if (sl, bigname) in pps_cpu:
            r = pc / pps_cpu[(sl, bigname)]
            p(f"- ≥ 10× Suricata ({sl}) packets per CPU-second: {r:.1f}× → **{'holds' if r >= 10 else 'MISSED'}**")
    if ("suricata default", bigname) not in pps_cpu:
        p("- ≥ 10× Suricata: not measured (Suricata not installed)")
    if ("tshark", bigname) in pps_cpu:
        p(f"- vs tshark full dissection: {pc / pps_cpu[('tshark', bigname)]:.1f}× packets per CPU-second")
    elif ("tshark", "merged") in pps_cpu:
        p(f"- vs tshark full dissection (merged input only): "
          f"{pps_cpu[('palisade --threads 1', 'merged')] / pps_cpu[('tshark', 'merged')]:.1f}× packets per CPU-second")
    prss = [med(k)[2] for k in runs if k[0] == "tp" and k[1].startswith("palisade")]
    if ("mem", "flood_default") in runs:
        prss.append(med(("mem", "flood_default"))[2])
    worst = max(prss) / 1024
    p(f"- Peak RSS ≤ 200 MiB: worst Palisade run with default limits (real inputs, threads 1 and 2, and the "
      f"synthetic flood at the default flow cap) {worst:.1f} MiB → **{'holds' if worst <= 200 else 'MISSED'}**")
p("")

if any(k[0] == "mem" for k in runs):
    p("### Memory (synthetic captures, `--threads 1`)")
    p("")
    p("| case | flows | flows evicted | devices | devices evicted | wall s | CPU s | peak RSS MiB |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|")
    mrss, msum = {}, {}
    for key, desc in memlabels.items():
        k = ("mem", key, )
        rk = [x for x in runs if x[0] == "mem" and x[1] == key][0]
        wall, cpu, rss, _, bad = med(rk)
        s = summaries.get(key, {})
        mrss[key], msum[key] = rss * 1024, s
        p(f"| {desc}{' (failed)' if bad else ''} | {fmt_int(s.get('flows', 0))} | {fmt_int(s.get('flows_evicted', 0))} | "
          f"{fmt_int(s.get('devices', 0))} | {fmt_int(s.get('devices_evicted', 0))} | {wall:.2f} | {cpu:.2f} | "
          f"{rss / 1024:.1f} |")
    p("")

    def tracked(key):
        s = msum[key]
        return s.get("flows", 0) - s.get("flows_evicted", 0)

    p("Derived:")
    if {"flood_all", "flood_half", "flood_1000"} <= mrss.keys():
        d = tracked("flood_all") - tracked("flood_half")
        if d > 0:
            p(f"- Memory per tracked flow, marginal: (RSS at {fmt_int(tracked('flood_all'))} flows − RSS at "
              f"{fmt_int(tracked('flood_half'))} flows) / {fmt_int(d)} = "
              f"**{(mrss['flood_all'] - mrss['flood_half']) / d:,.0f} bytes/flow**")
        d2 = tracked("flood_all") - tracked("flood_1000")
        if d2 > 0:
            p(f"- Memory per tracked flow vs `--max-flows 1000` on the same flood: "
              f"{(mrss['flood_all'] - mrss['flood_1000']) / d2:,.0f} bytes/flow")
    if {"dev_n", "dev_16"} <= mrss.keys():
        d = msum["dev_n"].get("devices", 0) - msum["dev_16"].get("devices", 0)
        if d > 0:
            p(f"- Memory per device (ARP + DHCP evidence, report included): (RSS with {fmt_int(msum['dev_n']['devices'])} "
              f"devices − RSS with {msum['dev_16']['devices']} devices, same packet count) / {fmt_int(d)} = "
              f"**{(mrss['dev_n'] - mrss['dev_16']) / d:,.0f} bytes/device**")
    if {"flood_1000", "startup"} <= mrss.keys():
        p(f"- Bounded under a flood: {meta.get('mem_flood', '?')} spoofed sources with `--max-flows 1000` peak at "
          f"{mrss['flood_1000'] / MIB:.1f} MiB vs {mrss['startup'] / MIB:.1f} MiB for a 1-packet capture; "
          f"at the default cap {mrss.get('flood_default', 0) / MIB:.1f} MiB.")
    if "dev_over" in mrss:
        p(f"- Over the device cap: {fmt_int(msum['dev_over'].get('devices', 0))} devices kept, "
          f"{fmt_int(msum['dev_over'].get('devices_evicted', 0))} evicted, peak {mrss['dev_over'] / MIB:.1f} MiB.")
names = list(packets)
if len(names) >= 2 and ("tp", "palisade --threads 1", names[0]) in runs and ("tp", "palisade --threads 1", names[1]) in runs:
    a, b = med(("tp", "palisade --threads 1", names[0]))[2], med(("tp", "palisade --threads 1", names[1]))[2]
    a2 = med(("tp", "palisade --threads 2", names[0]))[2] if ("tp", "palisade --threads 2", names[0]) in runs else 0
    b2 = med(("tp", "palisade --threads 2", names[1]))[2] if ("tp", "palisade --threads 2", names[1]) in runs else 0
    p(f"- RSS vs input size (`--threads 1`): {fmt_int(packets[names[0]])} packets → {a / 1024:.1f} MiB, "
      f"{fmt_int(packets[names[1]])} packets → {b / 1024:.1f} MiB (`--threads 2`: {a2 / 1024:.1f} → {b2 / 1024:.1f} MiB)")
for name, s in summaries.items():
    if name in packets:
        ok = s.get("packets") == packets[name]
        p(f"- Check: Palisade's summary for {name}: {fmt_int(s.get('packets', 0))} packets "
          f"({'matches capinfos' if ok else 'DOES NOT match capinfos'}), {fmt_int(s.get('flows', 0))} flows, "
          f"{s.get('devices', 0)} devices, {fmt_int(s.get('malformed_packets', 0))} malformed")
p("")
p("### Commands")
p("")
for label, c in cmds.items():
    p(f"- {memlabels.get(label, label)}: `{c}`")
print("\n".join(out))
