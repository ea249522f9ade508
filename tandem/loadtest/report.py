"""Load-test reports: ``report.json`` (every point), ``report.md`` (tables), ``report.html``
(self-contained: inline SVG charts, no script, no CDN) and ``points.csv`` / ``series.csv``.

Who calls it: ``tandem loadtest --out DIR`` via :func:`write_report`. Pictures first (latency
vs throughput with both backends on one chart, gateway vs direct, latency over time), tables
second, raw JSON for machines.
"""

from __future__ import annotations

import csv
import html
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def write_report(out: Path, meta: dict[str, Any], points: Sequence[dict[str, Any]]) -> list[Path]:
    """Write every format into ``out`` (created); returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    summary = comparisons(points)
    if meta.get("twin"):
        summary["twin"] = twin_comparison(meta["twin"], points)
    doc = {"meta": meta, "comparisons": summary, "points": list(points)}
    files = {
        "report.json": orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY),
        "report.md": markdown(meta, summary, points).encode(),
        "report.html": html_report(meta, summary, points).encode(),
    }
    written = []
    for name, data in files.items():
        (out / name).write_bytes(data)
        written.append(out / name)
    written += write_csv(out, points)
    return written


def _key(p: dict[str, Any]) -> str:
    return f"{p.get('model', '')} {p.get('path', '')}".strip() or p["target"]


def _closed(points: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for p in points:
        if p["mode"] == "closed":
            series[_key(p)].append(p)
    for rows in series.values():
        rows.sort(key=lambda p: p["concurrency"])
    return series


def comparisons(points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures people ask for, derived from the points: TF Serving vs TorchServe, the
    gateway's added latency and throughput ratio, JSON vs binary."""
    closed = _closed(points)
    out: dict[str, Any] = {"backends": [], "gateway_vs_direct": [], "json_vs_binary": []}
    by_model: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for key, rows in closed.items():
        by_model[rows[0].get("model", key)][rows[0].get("path", "")] = rows
    for model, paths in sorted(by_model.items()):
        direct, via = paths.get("direct-rest"), paths.get("gateway-v1")
        if direct and via:
            d_at = {p["concurrency"]: p for p in direct}
            rows = []
            for g in via:
                d = d_at.get(g["concurrency"])
                if d is None:
                    continue
                rows.append(
                    {
                        "concurrency": g["concurrency"],
                        "direct_rps": d["throughput_rps"],
                        "gateway_rps": g["throughput_rps"],
                        "added_p50_ms": _sub(g["latency_ms"]["p50"], d["latency_ms"]["p50"]),
                        "added_p99_ms": _sub(g["latency_ms"]["p99"], d["latency_ms"]["p99"]),
                    }
                )
            best_d = max(p["throughput_rps"] for p in direct)
            best_g = max(p["throughput_rps"] for p in via)
            out["gateway_vs_direct"].append(
                {
                    "model": model,
                    "backend": direct[0].get("backend"),
                    "best_direct_rps": best_d,
                    "best_gateway_rps": best_g,
                    "throughput_ratio": round(best_g / best_d, 3) if best_d else None,
                    "by_concurrency": rows,
                }
            )
        js, binary = paths.get("gateway-v2-json"), paths.get("gateway-v2-binary")
        if js and binary:
            b_at = {p["concurrency"]: p for p in binary}
            grpc_at = {
                name: {p["concurrency"]: p for p in paths.get(f"gateway-grpc-{name}") or ()}
                for name in ("v2", "tfs")
            }
            for j in js:
                b = b_at.get(j["concurrency"])
                if b is None or not j["throughput_rps"]:
                    continue
                out["json_vs_binary"].append(
                    {
                        "model": model,
                        "concurrency": j["concurrency"],
                        "json_rps": j["throughput_rps"],
                        "binary_rps": b["throughput_rps"],
                        "json_p50_ms": j["latency_ms"]["p50"],
                        "binary_p50_ms": b["latency_ms"]["p50"],
                        "binary_speedup": round(b["throughput_rps"] / j["throughput_rps"], 2),
                        # The gateway's gRPC front door at the same concurrency (if measured).
                        **{
                            f"grpc_{name}_rps": (
                                at[j["concurrency"]]["throughput_rps"]
                                if j["concurrency"] in at
                                else None
                            )
                            for name, at in grpc_at.items()
                        },
                    }
                )
    # TF Serving vs TorchServe: each backend's direct REST sweep side by side.
    for rows in (closed[k] for k in sorted(closed)):
        if rows[0].get("path") == "direct-rest":
            out["backends"].append(
                {
                    "model": rows[0].get("model"),
                    "backend": rows[0].get("backend"),
                    "best_rps": max(p["throughput_rps"] for p in rows),
                    "p50_ms_c1": next(
                        (p["latency_ms"]["p50"] for p in rows if p["concurrency"] == 1), None
                    ),
                }
            )
    return out


def twin_comparison(twin: dict[str, Any], points: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A twin's variants side by side, one row per (path, load) that every variant was
    measured at: throughput, latency and the CPU per request of its backend and of the
    gateway (from /proc, so still a fair comparison on a busy machine)."""
    variants: list[str] = list(twin["variants"])
    at: dict[tuple[str, str, Any], dict[str, dict[str, Any]]] = defaultdict(dict)
    for p in points:
        if p.get("model") in variants:
            load = p["concurrency"] if p["mode"] == "closed" else p["offered_rps"]
            at[(p.get("path", ""), p["mode"], load)][p["model"]] = p
    rows = []
    for (path, mode, load), by_variant in sorted(
        at.items(), key=lambda kv: (kv[0][0], kv[0][1], float(kv[0][2]))
    ):
        if set(by_variant) != set(variants):
            continue
        for name in variants:
            p = by_variant[name]
            cpu = p.get("server_cpu_ms_per_request", {})
            rows.append(
                {
                    "path": path,
                    "mode": mode,
                    "load": load,
                    "variant": name,
                    "backend": p.get("backend"),
                    "throughput_rps": p["throughput_rps"],
                    "p50_ms": p["latency_ms"]["p50"],
                    "p99_ms": p["latency_ms"]["p99"],
                    "errors": sum(p["errors"].values()),
                    "backend_cpu_ms_per_request": cpu.get(p.get("backend", "")),
                    "gateway_cpu_ms_per_request": (
                        cpu.get("gateway") if path.startswith("gateway") else None
                    ),
                }
            )
    return {"name": twin["name"], "variants": variants, "rows": rows}


def _sub(a: float, b: float) -> float | None:
    if math.isnan(a) or math.isnan(b):
        return None
    return round(a - b, 3)


# -- Markdown -------------------------------------------------------------------------------


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_f(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def points_rows(points: Sequence[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for p in points:
        lat, gen = p["latency_ms"], p["generator"]
        load = f"c={p['concurrency']}" if p["mode"] == "closed" else f"{p['offered_rps']:g}/s"
        if p["mode"] == "open" and p["arrival"] == "poisson":
            load += " poisson"
        errors = ", ".join(f"{k}: {v}" for k, v in p["errors"].items()) or "0"
        flags = [] if p["stable"] else ["unstable"]
        if gen["limited"]:
            flags.append("generator-limited")
        rows.append(
            [
                p.get("model", p["target"]),
                p.get("path", ""),
                load,
                p["throughput_rps"],
                lat["p50"],
                lat["p90"],
                lat["p99"],
                lat["p99.9"],
                lat["max"],
                errors,
                gen["lag_p99_ms"],
                " ".join(flags) or "stable",
            ]
        )
    return rows


POINT_HEADER = (
    "model",
    "path",
    "load",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "gen lag p99 ms",
    "status",
)


def markdown(
    meta: dict[str, Any], summary: dict[str, Any], points: Sequence[dict[str, Any]]
) -> str:
    parts = [f"# Load test ({meta.get('profile', 'custom')})\n", _meta_lines(meta)]
    if summary["backends"]:
        parts.append("\n## TF Serving vs TorchServe (direct REST)\n\n")
        parts.append(
            _table(
                ("model", "backend", "best req/s", "p50 ms at c=1"),
                (
                    [r["model"], r["backend"], r["best_rps"], r["p50_ms_c1"]]
                    for r in summary["backends"]
                ),
            )
        )
    if summary["gateway_vs_direct"]:
        parts.append("\n## Through the gateway vs direct (v1 JSON)\n\n")
        rows = []
        for g in summary["gateway_vs_direct"]:
            for r in g["by_concurrency"]:
                rows.append(
                    [
                        g["model"],
                        r["concurrency"],
                        r["direct_rps"],
                        r["gateway_rps"],
                        r["added_p50_ms"],
                        r["added_p99_ms"],
                    ]
                )
            rows.append(
                [
                    g["model"],
                    "best",
                    g["best_direct_rps"],
                    g["best_gateway_rps"],
                    f"ratio {g['throughput_ratio']}",
                    "",
                ]
            )
        parts.append(
            _table(
                (
                    "model",
                    "concurrency",
                    "direct req/s",
                    "gateway req/s",
                    "added p50 ms",
                    "added p99 ms",
                ),
                rows,
            )
        )
    if summary["json_vs_binary"]:
        parts.append("\n## v2 JSON vs binary vs gRPC through the gateway\n\n")
        parts.append(
            _table(
                (
                    "model",
                    "concurrency",
                    "JSON req/s",
                    "binary req/s",
                    "JSON p50 ms",
                    "binary p50 ms",
                    "binary speed-up",
                    "gRPC v2 req/s",
                    "gRPC TF Serving req/s",
                ),
                (
                    [
                        r["model"],
                        r["concurrency"],
                        r["json_rps"],
                        r["binary_rps"],
                        r["json_p50_ms"],
                        r["binary_p50_ms"],
                        f"{r['binary_speedup']}x",
                        r.get("grpc_v2_rps", "-") or "-",
                        r.get("grpc_tfs_rps", "-") or "-",
                    ]
                    for r in summary["json_vs_binary"]
                ),
            )
        )
    if summary.get("twin"):
        t = summary["twin"]
        parts.append(f"\n## Twin {t['name']}: {' vs '.join(t['variants'])}\n\n")
        parts.append(
            _table(
                (
                    "path",
                    "load",
                    "variant",
                    "backend",
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "backend CPU ms/req",
                    "gateway CPU ms/req",
                ),
                (
                    [
                        r["path"],
                        f"c={r['load']}" if r["mode"] == "closed" else f"{r['load']} req/s",
                        r["variant"],
                        r["backend"],
                        r["throughput_rps"],
                        r["p50_ms"],
                        r["p99_ms"],
                        r["errors"],
                        r["backend_cpu_ms_per_request"],
                        r["gateway_cpu_ms_per_request"],
                    ]
                    for r in t["rows"]
                ),
            )
        )
        parts.append(
            "\nCPU per request: the server process tree's CPU time (from /proc) over the point, "
            "warm-up included, per request sent; it holds on a busy machine where req/s does "
            "not.\n"
        )
    parts.append("\n## Every point\n\n")
    parts.append(_table(POINT_HEADER, points_rows(points)))
    parts.append(
        "\nLatency: HdrHistogram, closed loop from send to answer, open loop from each "
        "request's scheduled time. A point is stable when 3 successive windows agree within "
        "10% (throughput and p50); `generator-limited` means the load generator sent late "
        "(lag p99 > 5 ms) or below the offered rate, so the point measures it, not the "
        "server.\n"
    )
    return "".join(parts)


def _meta_lines(meta: dict[str, Any]) -> str:
    keys = ("date", "command", "host_cpus", "load_average_1_5_15", "generator_ceiling_rps")
    return "".join(f"- {k}: `{meta[k]}`\n" for k in keys if k in meta)


# -- CSV ------------------------------------------------------------------------------------


def write_csv(out: Path, points: Sequence[dict[str, Any]]) -> list[Path]:
    fields = [
        "model",
        "backend",
        "path",
        "mode",
        "arrival",
        "concurrency",
        "offered_rps",
        "sent_rps",
        "throughput_rps",
        "requests_ok",
        "stable",
        "windows",
    ]
    lat = ["p50", "p90", "p99", "p99.9", "max", "mean"]
    gen = ["lag_p50_ms", "lag_p99_ms", "lag_max_ms", "cpu_us_per_request", "limited"]
    with (out / "points.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [*fields, *(f"latency_{k}_ms" for k in lat), "errors", *(f"gen_{k}" for k in gen)]
        )
        for p in points:
            w.writerow(
                [p.get(k) for k in fields]
                + [p["latency_ms"][k] for k in lat]
                + [";".join(f"{k}={v}" for k, v in p["errors"].items())]
                + [p["generator"][k] for k in gen]
            )
    with (out / "series.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", "mode", "load", "t_s", "rps", "p50_ms", "p99_ms", "errors"])
        for p in points:
            load = p["concurrency"] if p["mode"] == "closed" else p["offered_rps"]
            for s in p["series"]:
                w.writerow(
                    [
                        p["target"],
                        p["mode"],
                        load,
                        s["t_s"],
                        s["rps"],
                        s["p50_ms"],
                        s["p99_ms"],
                        s["errors"],
                    ]
                )
    return [out / "points.csv", out / "series.csv"]


# -- HTML + SVG -----------------------------------------------------------------------------

Series = list[tuple[str, list[tuple[float, float]]]]


def svg_chart(title: str, series: Series, x_label: str, y_label: str, log_y: bool = False) -> str:
    """A self-contained SVG line chart (points marked), one colour per series."""
    w, h, left, right, top, bottom = 760, 360, 70, 220, 30, 45
    pts = [
        (x, y)
        for _, s in series
        for x, y in s
        if _finite(x) and _finite(y) and (y > 0 or not log_y)
    ]
    if not pts:
        return f"<p><em>{html.escape(title)}: no data</em></p>"
    x_max = max(x for x, _ in pts) * 1.05 or 1.0
    ys = [y for _, y in pts]
    if log_y:
        y_lo, y_hi = math.log10(min(ys)) - 0.1, math.log10(max(ys)) + 0.1
    else:
        y_lo, y_hi = 0.0, max(ys) * 1.1 or 1.0

    def sx(x: float) -> float:
        return left + (w - left - right) * x / x_max

    def sy(y: float) -> float:
        v = math.log10(y) if log_y else y
        return h - bottom - (h - top - bottom) * (v - y_lo) / ((y_hi - y_lo) or 1)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" role="img" '
        f'aria-label="{html.escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#333"/>',
    ]
    for i in range(6):
        x = x_max * i / 5
        out.append(
            f'<text x="{sx(x):.1f}" y="{h - bottom + 15}" text-anchor="middle">{x:.4g}</text>'
        )
        frac = y_lo + (y_hi - y_lo) * i / 5
        y = 10**frac if log_y else frac
        out.append(
            f'<text x="{left - 5}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.3g}</text>'
            f'<line x1="{left}" y1="{sy(y):.1f}" x2="{w - right}" y2="{sy(y):.1f}" '
            'stroke="#ddd"/>'
        )
    out.append(
        f'<text x="{(left + w - right) / 2}" y="{h - 8}" text-anchor="middle">'
        f"{html.escape(x_label)}</text>"
        f'<text transform="translate(14,{(top + h - bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(y_label)}{" (log)" if log_y else ""}</text>'
    )
    for i, (label, s) in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5,3"' if "gateway" in label else ""
        good = [(x, y) for x, y in s if _finite(x) and _finite(y) and (y > 0 or not log_y)]
        if good:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in good)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
            )
            out += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in good
            ]
        ly = top + 14 * i + 10
        out.append(
            f'<line x1="{w - right + 10}" y1="{ly}" x2="{w - right + 30}" y2="{ly}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
            f'<text x="{w - right + 35}" y="{ly + 4}">{html.escape(label)}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def html_report(
    meta: dict[str, Any], summary: dict[str, Any], points: Sequence[dict[str, Any]]
) -> str:
    closed = _closed(points)
    curve = [
        (k, [(p["throughput_rps"], p["latency_ms"]["p99"]) for p in rows])
        for k, rows in closed.items()
    ]
    curve50 = [
        (k, [(p["throughput_rps"], p["latency_ms"]["p50"]) for p in rows])
        for k, rows in closed.items()
    ]
    versus = [
        (k, [(float(p["concurrency"]), p["throughput_rps"]) for p in rows])
        for k, rows in closed.items()
        if rows[0].get("path") in ("direct-rest", "gateway-v1")
    ]
    over_time: Series = []
    for k, rows in closed.items():
        last = rows[-1]
        over_time.append(
            (f"{k} c={last['concurrency']}", [(s["t_s"], s["p99_ms"]) for s in last["series"]])
        )
    for p in points:
        if p["mode"] == "open":
            over_time.append(
                (
                    f"{_key(p)} {p['offered_rps']:g}/s",
                    [(s["t_s"], s["p99_ms"]) for s in p["series"]],
                )
            )
    charts = [
        svg_chart(
            "Latency p99 vs throughput (closed-loop sweep)",
            curve,
            "throughput (req/s)",
            "p99 latency (ms)",
            log_y=True,
        ),
        svg_chart(
            "Latency p50 vs throughput",
            curve50,
            "throughput (req/s)",
            "p50 latency (ms)",
            log_y=True,
        ),
        svg_chart("Gateway vs direct: throughput by concurrency", versus, "concurrency", "req/s"),
        svg_chart(
            "Latency over time (p99 per window, highest load of each target)",
            over_time,
            "seconds into the measurement",
            "p99 latency (ms)",
            log_y=True,
        ),
    ]
    md = markdown(meta, summary, points)
    body = "\n".join(f"<figure>{c}</figure>" for c in charts)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Tandem load test</title><style>{_CSS}</style></head><body>\n"
        f"<h1>Tandem load test ({html.escape(str(meta.get('profile', 'custom')))})</h1>\n"
        f"{body}\n{_md_to_html(md)}\n</body></html>\n"
    )


_CSS = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}"
    "table{border-collapse:collapse;font-size:12px;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}figure{margin:1em 0}"
)


def _md_to_html(md: str) -> str:
    """Just enough Markdown (headings, bullet lines, pipe tables, paragraphs) for the report."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, *rest = table
            out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>")
            out.extend("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rest)
            out.append("</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        flush()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level + 1}>{html.escape(line.lstrip('# '))}</h{level + 1}>")
        elif line.startswith("- "):
            out.append(f"<div>{html.escape(line[2:]).replace('`', '')}</div>")
        elif line.strip():
            out.append(f"<p>{html.escape(line).replace('`', '')}</p>")
    flush()
    return "\n".join(out)
