#!/usr/bin/env python3
"""Turn the TSV files scripts/bench.sh writes into bench-work/results.md (printed too) and results.json.

One table per section: a row per operation, a column per tool (wall seconds and peak RSS), the best peer of the
operation named, infini's wall time divided by the best peer's, and the section's target with a mark.
"""
import json
import os
import sys

work = sys.argv[1]


def tsv(name):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip("\n")]


meta = {r[0]: r[1] for r in tsv("meta.tsv") if len(r) >= 2}
sections = [(r[0], r[1], r[2] if len(r) > 2 else "") for r in tsv("sections.tsv")]
status = {}
for r in tsv("status.tsv"):
    # A tool that runs several times in a section keeps its first failure.
    if status.get((r[0], r[1]), ("",))[0] != "failed":
        status[(r[0], r[1])] = (r[2], r[3] if len(r) > 3 else "")
results = {}
order = {}
for sec, tool, op, wall, user, sys_, rss in tsv("results.tsv"):
    results[(sec, tool, op)] = {"section": sec, "tool": tool, "op": op, "wall_s": float(wall),
                                "user_s": float(user), "sys_s": float(sys_),
                                "cpu_s": round(float(user) + float(sys_), 2), "max_rss_kib": int(rss)}
    order.setdefault(sec, [])
    if op not in order[sec]:
        order[sec].append(op)
figures = [dict(zip(["section", "kind", "name", "value", "unit", "cmp", "limit"], r + [""] * (7 - len(r))))
           for r in tsv("figures.tsv")]
notes = tsv("notes.tsv")
commands = open(os.path.join(work, "commands.txt")).read().rstrip("\n").splitlines() \
    if os.path.exists(os.path.join(work, "commands.txt")) else []

SUBJECT = "infini"
KNOWN = ["infini", "borg", "restic", "rustic", "git"]


def ok(sec, tool):
    return status.get((sec, tool), ("ok",))[0] == "ok"


def mark(value, cmp, limit):
    good = value <= limit if cmp == "le" else value >= limit
    return "✓" if good else "✗"


def num(x):
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def mib(kib):
    return f"{kib / 1024:.0f} MiB"


out = []
doc_sections = []
out.append(f"# infini benchmark ({meta.get('date', '')})")
out.append("")
out.append(f"Machine: {meta.get('cores')} cores ({meta.get('cpu')}), {meta.get('mem_mib')} MiB RAM, "
           f"{meta.get('kernel')}; load average {meta.get('load_start')} at the start, {meta.get('load_end')} at "
           "the end (other work on the machine skews wall times).")
versions = [f"{t}: {meta[t + '_version']}" for t in KNOWN if t + "_version" in meta]
out.append("Versions: " + ("; ".join(versions) if versions else "n/a") + ".")
if "stream_bytes" in meta:
    out.append(f"Stream: {int(meta['stream_bytes']):,} bytes ({meta.get('size_mb')} MB; ~77% system files from "
               "/usr/bin, /usr/lib, /usr/share, ~23% seeded random bytes, interleaved), sha256 "
               f"`{meta.get('stream_sha256', '?')}`; warm page cache.")
out.append("")
out.append("Each cell: wall time and peak RSS. *best peer*: the fastest other tool for that operation (smallest "
           "repository for sizes); *÷ best*: infini's figure divided by the best peer's (below 1: infini is ahead).")
out.append("")

for sec, title, desc in sections:
    figs = [f for f in figures if f["section"] == sec]
    ops = order.get(sec, [])
    # Size rows: row label -> tool -> bytes ("repository size" unless the section names its rows).
    size_rows = {}
    for f in figs:
        if f["kind"] == "size":
            size_rows.setdefault(f["cmp"] or "repository size", {})[f["name"]] = int(f["value"])
    sizes = {t: b for row in size_rows.values() for t, b in row.items()}
    targets = {f["name"]: float(f["limit"]) for f in figs if f["kind"] == "target"}
    rss_targets = {f["name"]: float(f["limit"]) for f in figs if f["kind"] == "rss_target"}
    tools = []
    for (s, t, _op) in results:
        if s == sec and t not in tools:
            tools.append(t)
    for t in sizes:
        if t not in tools:
            tools.append(t)
    tools.sort(key=lambda t: (KNOWN.index(t) if t in KNOWN else len(KNOWN), t))
    peers = [t for t in tools if t != SUBJECT and t in KNOWN and ok(sec, t)]
    out.append(f"## {title}")
    out.append("")
    if desc:
        out.append(desc)
        out.append("")
    rows_doc = []
    if ops or sizes:
        has_peers = bool(peers)
        head = ["operation"] + tools + (["best peer", "infini ÷ best"] if has_peers else []) + ["target"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * len(tools) + (["---", "---:"] if has_peers else [])
                                  + ["---"]) + "|")
        for op in ops:
            cells = [op]
            for t in tools:
                r = results.get((sec, t, op))
                if r is None:
                    cells.append("")
                else:
                    c = f"{num(r['wall_s'])} s · {mib(r['max_rss_kib'])}"
                    cells.append(c if ok(sec, t) else c + f" ({status[(sec, t)][0]})")
            base = results.get((sec, SUBJECT, op)) if ok(sec, SUBJECT) else None
            cand = [(results[(sec, p, op)]["wall_s"], p) for p in peers if (sec, p, op) in results]
            ratio = best = None
            if has_peers:
                if cand:
                    bw, best = min(cand)
                    if base and bw > 0:
                        ratio = base["wall_s"] / bw
                cells += [best or "", f"{ratio:.2f}" if ratio is not None else ""]
            tgt = []
            if op in targets:
                tgt.append(f"≤ {targets[op]:.2f}×" + (f" {mark(ratio, 'le', targets[op])}" if ratio is not None else ""))
            if op in rss_targets and base:
                tgt.append(f"RSS ≤ {rss_targets[op]:.0f} MiB {mark(base['max_rss_kib'] / 1024, 'le', rss_targets[op])}")
            cells.append("; ".join(tgt))
            out.append("| " + " | ".join(cells) + " |")
            rows_doc.append({"op": op, "best_peer": best, "ratio": ratio,
                             "target": targets.get(op), "rss_target": rss_targets.get(op)})
        for label, row in size_rows.items():
            cells = [label]
            for t in tools:
                cells.append(f"{row[t] / 2**20:,.2f} MiB" if t in row else "")
            ratio = best = None
            if has_peers:
                cand = [(row[p], p) for p in peers if p in row]
                if cand:
                    bs, best = min(cand)
                    if SUBJECT in row and bs > 0:
                        ratio = row[SUBJECT] / bs
                cells += [best or "", f"{ratio:.3f}" if ratio is not None else ""]
            key = "size" if label == "repository size" else f"size:{label}"
            tgt = ""
            if key in targets:
                tgt = f"≤ {targets[key]:.2f}×" + (f" {mark(ratio, 'le', targets[key])}" if ratio else "")
            cells.append(tgt)
            out.append("| " + " | ".join(cells) + " |")
            rows_doc.append({"op": label, "best_peer": best, "ratio": ratio,
                             "bytes": row, "target": targets.get(key)})
        out.append("")
    lines = []
    for f in figs:
        if f["kind"] == "check":
            v, lim = float(f["value"]), float(f["limit"])
            sign = "≤" if f["cmp"] == "le" else "≥"
            unit = f" {f['unit']}" if f["unit"] else ""
            lines.append(f"{f['name']}: **{num(v)}{unit}** (target {sign} {num(lim)}{unit}) {mark(v, f['cmp'], lim)}")
        elif f["kind"] == "metric":
            unit = f" {f['unit']}" if f["unit"] else ""
            try:
                v = float(f["value"])
                # A count stays a whole number (14 requests, not 14.0).
                val = f"{int(v):,}" if f["value"].lstrip("-").isdigit() else num(v)
            except ValueError:
                val = f["value"]
            lines.append(f"{f['name']}: {val}{unit}")
    lines += [n[1] for n in notes if n[0] == sec]
    for (s, t), (st, msg) in status.items():
        if s == sec and st != "ok":
            lines.append(f"{t}: {st}" + (f" ({msg})" if msg else ""))
    out += [f"- {l}" for l in lines]
    if lines:
        out.append("")
    doc_sections.append({
        "name": sec, "title": title,
        "results": [r for (s, _t, _o), r in results.items() if s == sec],
        "rows": rows_doc,
        "figures": [f for f in figs if f["kind"] != "size"],
        "sizes": sizes,
        "status": {t: {"status": st, "message": m} for (s, t), (st, m) in status.items() if s == sec},
        "notes": [n[1] for n in notes if n[0] == sec],
    })

repro = meta.get("reproduce", "make bench")
out.append(f"Reproduce: `{repro}` (or the same variables with `scripts/bench.sh`). Commands run, in order:")
out.append("")
out.append("```")
out += commands
out.append("```")
md = "\n".join(out) + "\n"

with open(os.path.join(work, "results.md"), "w") as f:
    f.write(md)
doc = {
    "date": meta.get("date"),
    "machine": {"cores": int(meta.get("cores", 0) or 0), "cpu": meta.get("cpu"),
                "mem_mib": int(meta.get("mem_mib", 0) or 0), "kernel": meta.get("kernel"),
                "load_start": meta.get("load_start"), "load_end": meta.get("load_end")},
    "stream": {"bytes": int(meta.get("stream_bytes", 0) or 0), "sha256": meta.get("stream_sha256")},
    "versions": {t: meta[t + "_version"] for t in KNOWN if t + "_version" in meta},
    "sections": doc_sections,
    "reproduce": repro,
    "commands": commands,
}
with open(os.path.join(work, "results.json"), "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
sys.stdout.write(md)
