"""The chart of Scripts/bench --svg: mailtunnel's ratio to each peer, one horizontal bar per (figure, peer).

Hand-written SVG text (Python stdlib only), so making it needs nothing installed and any browser shows it.
The ratios are the table's: mailtunnel ÷ peer, 2 decimals, no bar where either value is missing."""
import math
from xml.sax.saxutils import escape

CLIP = 5.0  # a ratio beyond this is drawn to the axis end, marked "off scale", and labelled with its true value
COLOURS = {"better": "#1b9e77", "worse": "#d95f02", "even": "#757575"}  # green/orange: told apart by red-green
HALO = 'paint-order="stroke" stroke="white" stroke-width="3"'  # text stays readable where the parity line crosses it
LEGEND = {"better": "mailtunnel better", "worse": "mailtunnel worse", "even": "even (1.00)"}
PLOT_X, PLOT_W, RIGHT_MARGIN = 120, 600, 130   # peer names left of PLOT_X, ratio labels right of the bars
BAR_H, BAR_STEP, ROW_HEAD, ROW_GAP, TOP = 14, 18, 20, 10, 124


def ratio(med: dict, peer: str, key: str) -> "float | None":
    """The same rule as print_table: a ratio only where mailtunnel has a value and the peer a non-zero one."""
    mt, pv = med.get("mailtunnel", {}).get(key), med.get(peer, {}).get(key)
    return mt / pv if mt is not None and pv else None


def verdict(r: float, better: str) -> str:
    if f"{r:.2f}" == "1.00":
        return "even"
    return "better" if (r > 1) == (better == "higher") else "worse"


def chart_rows(med: dict, names: list, rows: list) -> list:
    """(label, better, [(peer, ratio)]) for each row with at least one ratio; a sub-row that the table indents
    under its figure ('  per proxy core-second') gets the figure's name in front, as it stands alone here."""
    peers = [p for p in names if p != "mailtunnel"]
    out, parent = [], ""
    for key, label, better in rows:
        full = f"{parent}, {label.strip()}" if label.startswith(" ") else label
        parent = parent if label.startswith(" ") else label
        bars = [(p, r) for p in peers if (r := ratio(med, p, key)) is not None]
        if bars:
            out.append((full, better, bars))
    return out


def ratio_chart_svg(med: dict, names: list, rows: list, title: str) -> str:
    data = chart_rows(med, names, rows)
    largest = max((r for _, _, bars in data for _, r in bars), default=1.0)
    scale = max(2, math.ceil(min(largest, CLIP)))

    def x(r: float) -> float:
        return round(PLOT_X + PLOT_W * min(r, scale) / scale, 1)

    body, y = [], TOP + 8
    for label, better, bars in data:
        body.append(f'<g class="row"><text class="figure" x="10" y="{y + 14}" font-weight="bold" {HALO}>'
                    f'{escape(label)} ({better} is better)</text>')
        y += ROW_HEAD
        for peer, r in bars:
            kind, end = verdict(r, better), x(r)
            body.append(f'<g class="bar {kind}"><title>{escape(label)}: mailtunnel ÷ {peer} = {r:.2f}</title>'
                        f'<text class="peer" x="{PLOT_X - 6}" y="{y + 11}" text-anchor="end">{escape(peer)}</text>'
                        f'<rect x="{PLOT_X}" y="{y}" width="{end - PLOT_X:.1f}" height="{BAR_H}" '
                        f'fill="{COLOURS[kind]}"/>'
                        f'<text class="ratio" x="{end + 4}" y="{y + 11}" {HALO}>{r:.2f}</text>')
            if r > scale:  # a break mark on the bar, and the words, so that its length is not read as the value
                body.append(f'<path class="clip-mark" d="M{end - 14},{y + BAR_H} l4,{-BAR_H} m4,{BAR_H} '
                            f'l4,{-BAR_H}" stroke="white" stroke-width="2"/>'
                            f'<text class="off-scale" x="{end + 10 + 7 * len(f"{r:.2f}")}" y="{y + 11}">'
                            'off scale</text>')
            body.append('</g>')
            y += BAR_STEP
        body.append('</g>')
        y += ROW_GAP
    bottom = y

    head = [f'<text class="title" x="10" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
            '<text class="note" x="10" y="44">Ratio = mailtunnel ÷ peer for each figure (medians, the table\'s '
            'numbers). The line at 1.0 is parity.</text>',
            '<text class="note" x="10" y="60">A bar is green where mailtunnel is better: above 1.0 on '
            '"higher is better" rows, below 1.0 on "lower is better" rows.</text>']
    for i, kind in enumerate(COLOURS):
        lx = 10 + 170 * i
        head.append(f'<g class="legend-item"><rect x="{lx}" y="72" width="14" height="14" fill="{COLOURS[kind]}"/>'
                    f'<text x="{lx + 20}" y="84">{LEGEND[kind]}</text></g>')
    ticks = [t / 2 for t in range(0, 2 * scale + 1)]
    for t in ticks:
        head.append(f'<line class="grid" x1="{x(t)}" y1="{TOP}" x2="{x(t)}" y2="{bottom}" stroke="#ddd"/>'
                    f'<text class="tick" x="{x(t)}" y="{TOP - 4}" text-anchor="middle">{t:g}</text>')
    parity = (f'<g class="parity"><line x1="{x(1)}" y1="{TOP - 16}" x2="{x(1)}" y2="{bottom}" stroke="#000" '
              f'stroke-width="2"/><text x="{x(1) + 4}" y="{TOP - 18}">parity</text></g>')  # under the bars and labels
    width, height = PLOT_X + PLOT_W + RIGHT_MARGIN, bottom + 10
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
            f'<rect width="{width}" height="{height}" fill="white"/>\n'
            + "\n".join(head + [parity] + body) + "\n</svg>\n")
