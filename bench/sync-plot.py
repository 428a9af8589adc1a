#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""sync-plot.py RESULTS.KTAP OUT.SVG [TITLE] - draw `make bench-sync`'s results.

Reads the "# bench-data:" lines of bench/sync-bench.c and writes one SVG
(no library beyond python3's own): refresh time against density, both axes
logarithmic; `tloop sync`, the per-page loop, the query plus moving the same
bytes in one process, and `tloop sync --via reflink` (when measured), random (solid) and clustered (dashed), and the two full
copies as horizontal lines.
"""
import math
import re
import sys

COLORS = {"sync": "#1f77b4", "loop": "#d62728", "reflink": "#2ca02c", "move": "#8c564b",
          "dd": "#7f7f7f", "tloop --full": "#ff7f0e", "tloop start": "#9467bd"}


def parse(path):
    rows, full, raw = [], {}, []
    for line in open(path, encoding="utf-8", errors="replace"):
        # The raw line of each row, printed as soon as it is measured (a run
        # stopped before its end has these and no bench-data lines).
        m = re.search(r"# (random|clustered) ([0-9.]+) %: ([0-9]+) pages, sync ([0-9.]+) s "
                      r".*loop (-?[0-9.]+) s, reflink (-?[0-9.]+) s", line)
        if m:
            q = re.search(r"query (-?[0-9.]+) s", line)
            loop = float(m.group(5))
            raw.append({"pat": m.group(1), "pct": float(m.group(2)),
                        "pages": int(m.group(3)), "sync": float(m.group(4)),
                        "loop": loop + float(q.group(1)) if loop >= 0 and q else -1,
                        "reflink": float(m.group(6)), "move": -1})
            continue
        m = re.search(r"ok [0-9]+ dd: ([0-9.]+) s", line)
        if m and "dd" not in full:
            full["dd"] = float(m.group(1))
            continue
        m = re.search(r"# bench-data: (.*)$", line)
        if not m:
            continue
        f = m.group(1).split()
        if f[0] == "full":
            full["dd" if f[1] == "dd" else "tloop --full"] = float(f[2])
        elif f[0] == "start":
            full["tloop start"] = float(f[1])
        elif f[0] == "row":
            rows.append({"pat": f[1], "pct": float(f[2]), "pages": int(f[3]),
                         "sync": float(f[4]), "loop": float(f[5]),
                         "reflink": float(f[6]),
                         "move": float(f[7]) if len(f) > 7 else -1})
    return rows or raw, full


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows, full = parse(sys.argv[1])
    title = sys.argv[3] if len(sys.argv) > 3 else ""
    if not rows:
        sys.exit("sync-plot.py: no bench-data rows in " + sys.argv[1])
    W, H, L, R, T, B = 820, 480, 70, 250, 40, 50
    xs = [r["pct"] for r in rows]
    ys = [r[k] for r in rows for k in ("sync", "loop", "reflink", "move") if r[k] > 0]
    ys += [v for v in full.values() if v > 0]
    x0, x1 = math.floor(math.log10(min(xs))), math.ceil(math.log10(max(xs)))
    y0, y1 = math.floor(math.log10(min(ys))), math.ceil(math.log10(max(ys)))
    x1 = max(x1, x0 + 1)
    y1 = max(y1, y0 + 1)

    def px(v):
        return L + (math.log10(v) - x0) / (x1 - x0) * (W - L - R)

    def py(v):
        return H - B - (math.log10(v) - y0) / (y1 - y0) * (H - T - B)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14">tloop sync, refresh time vs density %s</text>'
           % (L, title)]
    for e in range(x0, x1 + 1):
        x = px(10 ** e)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>'
                   % (x, T, x, H - B))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%g %%</text>'
                   % (x, H - B + 16, 10 ** e))
    for e in range(y0, y1 + 1):
        y = py(10 ** e)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>'
                   % (L, y, W - R, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g s</text>'
                   % (L - 6, y + 4, 10 ** e))
    out.append('<text x="%d" y="%d" text-anchor="middle">pages written (%% of the device)'
               '</text>' % ((L + W - R) / 2, H - 12))
    legend = []
    for name, v in sorted(full.items()):
        if v <= 0:
            continue
        y = py(v)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" '
                   'stroke-width="1.5" stroke-dasharray="2,3"/>' % (L, y, W - R, y, COLORS[name]))
        legend.append((name + ("" if name == "tloop start" else " (full)"), COLORS[name],
                       "2,3"))
    for kind in ("sync", "loop", "move", "reflink"):
        for pat, dash in (("random", ""), ("clustered", "6,4")):
            pts = sorted((r["pct"], r[kind]) for r in rows if r["pat"] == pat and r[kind] > 0)
            if not pts:
                continue
            d = " ".join("%.1f,%.1f" % (px(a), py(b)) for a, b in pts)
            out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2" '
                       'stroke-dasharray="%s"/>' % (d, COLORS[kind], dash or "none"))
            for a, b in pts:
                out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>'
                           % (px(a), py(b), COLORS[kind]))
            label = {"sync": "tloop sync", "loop": "query + per-page loop",
                     "move": "query + moving the bytes", "reflink": "--via reflink"}[kind]
            legend.append(("%s, %s" % (label, pat), COLORS[kind], dash))
    for i, (name, color, dash) in enumerate(legend):
        y = T + 10 + 18 * i
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2" '
                   'stroke-dasharray="%s"/>' % (W - R + 10, y, W - R + 34, y, color,
                                                 dash or "none"))
        out.append('<text x="%d" y="%d">%s</text>' % (W - R + 40, y + 4, name))
    out.append('</svg>')
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
