"""Scripts/bench --svg: the chart of mailtunnel's ratio to each peer, checked without running the benchmark.

The chart module (Scripts/bench.d/ratio_chart.py) is fed medians shaped like Scripts/bench's own (med[proxy][key]
floats or None, names with mailtunnel first, rows from the script's metric_rows) and the SVG is read back as a
reader would: the number printed next to each bar, its colour against the legend, where the parity line is."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO

BENCH = REPO / "Scripts" / "bench"
CHART = REPO / "Scripts" / "bench.d" / "ratio_chart.py"
NS = {"svg": "http://www.w3.org/2000/svg"}
NAMES = ["mailtunnel", "stunnel", "haproxy", "nginx"]
IDLE_NS = [1000, 9500]
# mailtunnel first; ratios chosen so that each case the chart distinguishes appears at least once
MED = {
    "mailtunnel": {"hs13": 800.0, "hs13_pc": 2035.0, "tput1": 500.0, "lat50": 80.0, "lat99": 150.0,
                   "idle_kib_1000": 15.5, "idle_kib_9500": 14.0, "idle_ok_1000": 1000.0},
    "stunnel": {"hs13": 400.0, "hs13_pc": 900.0, "tput1": 20.0, "lat50": 100.0, "lat99": 140.0,
                "idle_kib_1000": 60.0, "idle_kib_9500": None, "idle_ok_1000": 1000.0},
    "haproxy": {"hs13": 1000.0, "hs13_pc": 2300.0, "tput1": 480.0, "lat50": 90.0, "lat99": 173.0,
                "idle_kib_1000": 18.0, "idle_kib_9500": 17.5, "idle_ok_1000": 1000.0},
    "nginx": {"hs13": 1100.0, "hs13_pc": 2267.0, "tput1": 482.0, "lat50": 70.0, "lat99": None,
              "idle_kib_1000": 19.0, "idle_kib_9500": 18.0, "idle_ok_1000": 0.0},
}


def load(name: str, path) -> object:
    loader = importlib.machinery.SourceFileLoader(name, str(path))  # Scripts/bench has no .py suffix
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load("bench_script", BENCH)


@pytest.fixture(scope="module")
def svg(bench) -> ET.Element:
    chart = load("ratio_chart", CHART)
    text = chart.ratio_chart_svg(MED, NAMES, bench.metric_rows(IDLE_NS), "mailtunnel ÷ peer, test, 2 CPUs")
    return ET.fromstring(text.encode("utf-8"))


def bars(svg: ET.Element) -> dict[tuple[str, str], ET.Element]:
    """(figure text, peer) -> the bar's group, reading each row's heading and each bar's peer name."""
    out = {}
    for row in svg.findall("svg:g[@class='row']", NS):
        figure = row.find("svg:text[@class='figure']", NS).text
        for bar in row.findall("svg:g", NS):
            out[(figure, bar.find("svg:text[@class='peer']", NS).text)] = bar
    return out


def row_heading(bench, key: str, svg: ET.Element) -> str:
    """The chart's heading for a metric: rows appear in the table's order, each naming its figure."""
    label = next(l for k, l, _ in bench.metric_rows(IDLE_NS) if k == key).strip()
    headings = [t.text for t in svg.findall("svg:g[@class='row']/svg:text[@class='figure']", NS)]
    found = [h for h in headings if label in h]
    assert found, f"no row for {key} ({label!r}) in {headings}"
    return found[0]


def legend_colour(svg: ET.Element, words: str) -> str:
    for item in svg.findall("svg:g[@class='legend-item']", NS):
        if item.find("svg:text", NS).text == words:
            return item.find("svg:rect", NS).get("fill")
    raise AssertionError(f"no legend entry {words!r}")


def test_every_ratio_label_is_mailtunnel_over_peer(bench, svg):
    shown = bars(svg)
    expected = 0
    for key, _, _ in bench.metric_rows(IDLE_NS):
        for peer in NAMES[1:]:
            mt, pv = MED["mailtunnel"].get(key), MED[peer].get(key)
            if mt is None or not pv:
                continue
            expected += 1
            bar = shown[(row_heading(bench, key, svg), peer)]
            assert bar.find("svg:text[@class='ratio']", NS).text == f"{mt / pv:.2f}", (key, peer)
    assert len(shown) == expected  # no bar for a figure without values


def test_chart_numbers_are_the_tables(bench, svg, capsys):
    bench.print_table(MED, NAMES, IDLE_NS)  # MED has no busy-core figures: only the ratio table is printed
    rows = [l.split("|") for l in capsys.readouterr().out.splitlines() if l.startswith("| ") and "figure" not in l]
    first = 2 + len(NAMES)  # '', label, one value per proxy, then the mailtunnel/peer columns
    in_table = sorted(c.strip() for r in rows for c in r[first:first + len(NAMES) - 1] if c.strip() != "–")
    in_chart = sorted(b.find("svg:text[@class='ratio']", NS).text for b in bars(svg).values())
    assert in_chart == in_table


def test_missing_value_gives_no_bar(bench, svg):
    shown = bars(svg)
    assert (row_heading(bench, "lat99", svg), "nginx") not in shown          # nginx lat99 is None
    assert (row_heading(bench, "idle_kib_9500", svg), "stunnel") not in shown
    assert (row_heading(bench, "idle_ok_1000", svg), "nginx") not in shown    # peer value 0: no ratio
    assert (row_heading(bench, "lat99", svg), "haproxy") in shown


def test_colour_follows_which_way_is_better(bench, svg):
    better, worse = legend_colour(svg, "mailtunnel better"), legend_colour(svg, "mailtunnel worse")
    assert better != worse
    shown = bars(svg)
    lower = row_heading(bench, "lat50", svg)      # 80 / 100 = 0.80, lower is better
    higher = row_heading(bench, "hs13", svg)      # 800 / 1000 = 0.80, higher is better
    assert "(lower is better)" in lower and "(higher is better)" in higher
    for heading, colour in ((lower, better), (higher, worse)):
        bar = shown[(heading, "stunnel" if heading == lower else "haproxy")]
        assert bar.find("svg:text[@class='ratio']", NS).text == "0.80"
        assert bar.find("svg:rect", NS).get("fill") == colour, heading


def test_parity_line_at_ratio_one(bench, svg):
    parity = svg.find("svg:g[@class='parity']", NS)
    assert parity is not None and parity.find("svg:text", NS).text == "parity"
    line = parity.find("svg:line", NS)
    assert line.get("x1") == line.get("x2")
    # idle connections answering @1,000: 1000 / 1000 = 1.00, a bar that ends exactly on the parity line
    bar = bars(svg)[(row_heading(bench, "idle_ok_1000", svg), "haproxy")]
    rect = bar.find("svg:rect", NS)
    assert bar.find("svg:text[@class='ratio']", NS).text == "1.00"
    assert float(rect.get("x")) + float(rect.get("width")) == pytest.approx(float(line.get("x1")), abs=0.2)
    # and 0.80 ends at four fifths of it
    half = bars(svg)[(row_heading(bench, "hs13", svg), "haproxy")].find("svg:rect", NS)
    assert float(half.get("width")) == pytest.approx(0.8 * float(rect.get("width")), abs=0.2)


def test_huge_ratio_is_clipped_but_labelled_true(bench, svg):
    bar = bars(svg)[(row_heading(bench, "tput1", svg), "stunnel")]   # 500 / 20 = 25.00
    assert bar.find("svg:text[@class='ratio']", NS).text == "25.00"
    assert bar.find("svg:text[@class='off-scale']", NS).text == "off scale"
    ticks = [float(t.get("x")) for t in svg.findall("svg:text[@class='tick']", NS)]
    rect = bar.find("svg:rect", NS)
    assert float(rect.get("x")) + float(rect.get("width")) == pytest.approx(max(ticks), abs=0.2)
    assert max(float(t.text) for t in svg.findall("svg:text[@class='tick']", NS)) == 5  # axis stops at the clip
    assert max(ticks) < float(svg.get("width"))


def test_help_lists_svg():
    r = subprocess.run([sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "--svg" in r.stdout
