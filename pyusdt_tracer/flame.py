"""``python -m pyusdt.flame folded.txt -o flame.svg``: draws folded stacks
(``main;work;fib 1234``, as pyusdt's pyflame tool, flamegraph.pl's
stackcollapse scripts and many profilers write them) as a self-contained,
interactive SVG flame graph; ``-o flame.json`` (or ``--format speedscope``)
writes them as a speedscope file instead (pyusdt_tracer/formats.py).

The SVG needs nothing else: no network, no fonts, no external scripts.
Hovering a frame shows its name, value and share of the whole; clicking it
zooms in on it (its ancestors stretch across, everything else hides);
clicking the background or "Reset zoom" zooms back out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

PROG = "python -m pyusdt.flame"
WIDTH = 1200
FRAME_HEIGHT = 17
FONT_SIZE = 12
#: Average glyph width of the monospace font at FONT_SIZE, for fitting labels.
CHAR_WIDTH = 7.2
PAD_TOP = 50
PAD_BOTTOM = 30
PAD_SIDE = 10
#: speedscope's name of each --unit.
SPEEDSCOPE_UNITS = {"us": "microseconds", "ns": "nanoseconds", "ms": "milliseconds",
                    "s": "seconds", "bytes": "bytes"}
#: Frames narrower than this many pixels are left out, as flamegraph.pl does.
MIN_WIDTH = 0.1


class FoldedError(ValueError):
    """A line of folded stacks that cannot be read."""


@dataclass
class Frame:
    """A node of the merged stack tree: NAME, its VALUE including its
    children's, and its CHILDREN by name."""

    name: str
    value: float = 0
    children: dict[str, Frame] = field(default_factory=dict)

    def child(self, name: str) -> Frame:
        node = self.children.get(name)
        if node is None:
            node = self.children[name] = Frame(name)
        return node

    def depth(self) -> int:
        """How many levels there are below this frame, itself included."""
        return 1 + max((child.depth() for child in self.children.values()), default=0)


def read_stacks(lines: Iterable[str]) -> Iterator[tuple[list[str], float]]:
    """The stacks of folded stack LINES, each "frame;frame;... VALUE", as
    (frames root first, value).  Blank lines and lines starting with "#"
    are skipped; anything else raises FoldedError."""
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        stack, _, count = line.rpartition(" ")
        try:
            value = float(count)
        except ValueError:
            raise FoldedError("line %d: no value at the end: %r" % (number, line)) from None
        if not stack or value < 0 or value != value:
            raise FoldedError("line %d: not a stack and a value: %r" % (number, line))
        yield stack.split(";"), value


def parse(lines: Iterable[str]) -> Frame:
    """The merged tree (root named "all") of folded stack LINES (as
    read_stacks reads them)."""
    return tree(read_stacks(lines))


def tree(stacks: Iterable[tuple[list[str], float]]) -> Frame:
    """The merged tree (root named "all") of STACKS."""
    root = Frame("all")
    for stack, value in stacks:
        root.value += value
        node = root
        for name in stack:
            node = node.child(name)
            node.value += value
    return root


def _color(name: str) -> str:
    """A warm colour, the same for every frame of the same name."""
    digest = hashlib.md5(name.encode("utf-8", "replace")).digest()
    red = 205 + digest[0] % 50
    green = 70 + digest[1] % 160
    blue = digest[2] % 55
    return "rgb(%d,%d,%d)" % (red, green, blue)


def _number(value: float) -> str:
    return "{:,}".format(int(value)) if value == int(value) else "{:,.2f}".format(value)


def _label(name: str, width: float) -> str:
    chars = int((width - 6) / CHAR_WIDTH)
    if chars < 3:
        return ""
    return name if len(name) <= chars else name[:chars - 2] + ".."


SCRIPT = """
var details, frames;
function init() {
  details = document.getElementById("details");
  frames = document.querySelectorAll("g.frame");
  for (var i = 0; i < frames.length; i++) {
    frames[i].addEventListener("mouseover", over);
    frames[i].addEventListener("mouseout", out);
    frames[i].addEventListener("click", zoom);
  }
  document.getElementById("background").addEventListener("click", reset);
  document.getElementById("reset").addEventListener("click", reset);
}
function describe(g) {
  return g.getAttribute("data-name") + " (" + g.getAttribute("data-value") + " " +
    document.documentElement.getAttribute("data-unit") + ", " +
    g.getAttribute("data-share") + "%)";
}
function over(event) { details.textContent = describe(event.currentTarget); }
function out() { details.textContent = " "; }
function place(g, x, w) {
  var left = @SIDE@, span = @SPAN@;
  var rect = g.querySelector("rect"), text = g.querySelector("text");
  rect.setAttribute("x", left + x * span);
  rect.setAttribute("width", Math.max(w * span - 0.5, 0));
  text.setAttribute("x", left + x * span + 3);
  var chars = Math.floor((w * span - 6) / @CHAR@), name = g.getAttribute("data-name");
  text.textContent = chars < 3 ? "" :
    (name.length <= chars ? name : name.substring(0, chars - 2) + "..");
}
function zoom(event) {
  event.stopPropagation();
  var f = event.currentTarget;
  var x0 = +f.getAttribute("data-x"), w0 = +f.getAttribute("data-w");
  var d0 = +f.getAttribute("data-depth"), eps = 1e-9;
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i], x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w");
    var d = +g.getAttribute("data-depth");
    if (d >= d0 && x >= x0 - eps && x + w <= x0 + w0 + eps) {
      g.style.display = ""; g.style.opacity = ""; place(g, (x - x0) / w0, w / w0);
    } else if (d < d0 && x <= x0 + eps && x + w >= x0 + w0 - eps) {
      g.style.display = ""; g.style.opacity = "0.6"; place(g, 0, 1);
    } else {
      g.style.display = "none";
    }
  }
  document.getElementById("reset").style.display = "";
}
function reset() {
  for (var i = 0; i < frames.length; i++) {
    var g = frames[i];
    g.style.display = ""; g.style.opacity = "";
    place(g, +g.getAttribute("data-x"), +g.getAttribute("data-w"));
  }
  document.getElementById("reset").style.display = "none";
}
"""


def render(root: Frame, title: str = "Flame graph", unit: str = "us",
           width: int = WIDTH) -> str:
    """The SVG flame graph of ROOT (from parse()): the root at the bottom,
    each frame as wide as its share of the root's value, children sorted
    by name left to right."""
    span = width - 2 * PAD_SIDE
    levels = root.depth()
    height = PAD_TOP + levels * FRAME_HEIGHT + PAD_BOTTOM
    total = root.value
    out = [
        '<?xml version="1.0" standalone="no"?>',
        '<svg version="1.1" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" onload="init()" data-unit=%s>'
        % (width, height, width, height, quoteattr(unit)),
        "<style>text { font-family: monospace; font-size: %dpx; fill: #000; } "
        "g.frame text { pointer-events: none; } g.frame:hover rect { stroke: #000; "
        "stroke-width: 0.5; } g.frame { cursor: pointer; } #reset { cursor: pointer; "
        "fill: #225; }</style>" % FONT_SIZE,
        "<script><![CDATA[%s]]></script>"
        % SCRIPT.replace("@SIDE@", str(PAD_SIDE)).replace("@SPAN@", str(span))
        .replace("@CHAR@", str(CHAR_WIDTH)),
        '<rect id="background" x="0" y="0" width="%d" height="%d" fill="#f8f8f0"/>'
        % (width, height),
        '<text x="%d" y="24" text-anchor="middle" style="font-size: %dpx">%s</text>'
        % (width // 2, FONT_SIZE + 4, escape(title)),
        '<text id="reset" x="%d" y="24" style="display: none">Reset zoom</text>' % PAD_SIDE,
        '<text id="details" x="%d" y="%d"> </text>' % (PAD_SIDE, height - 10),
    ]

    def draw(frame: Frame, x: float, depth: int) -> None:
        share = frame.value / total if total else 0
        pixels = share * span
        if pixels < MIN_WIDTH:
            return
        y = PAD_TOP + (levels - 1 - depth) * FRAME_HEIGHT
        name = frame.name if depth else "all"
        out.append(
            '<g class="frame" data-name=%s data-value="%s" data-share="%.2f" '
            'data-x="%.9f" data-w="%.9f" data-depth="%d"><title>%s</title>'
            '<rect x="%.2f" y="%d" width="%.2f" height="%d" rx="2" fill="%s"/>'
            '<text x="%.2f" y="%d">%s</text></g>'
            % (quoteattr(name), _number(frame.value), share * 100, x, share, depth,
               escape("%s (%s %s, %.2f%%)" % (name, _number(frame.value), unit,
                                              share * 100)),
               PAD_SIDE + x * span, y, max(pixels - 0.5, 0), FRAME_HEIGHT - 1,
               _color(name), PAD_SIDE + x * span + 3, y + FRAME_HEIGHT - 5,
               escape(_label(name, pixels))))
        offset = x
        for child in sorted(frame.children.values(), key=lambda node: node.name):
            draw(child, offset, depth + 1)
            offset += child.value / total

    if total > 0:
        draw(root, 0.0, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m pyusdt.flame``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Draws folded stacks (\"a;b;c 123\" per line, as "
        "`python -m pyusdt.trace pyflame` writes them) as an interactive SVG flame "
        "graph that needs nothing else to view.")
    parser.add_argument("folded", help="the folded stacks file ('-' for stdin)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="the file to write (default: stdout): SVG, or speedscope "
                             "JSON if FILE ends in .json")
    parser.add_argument("--format", choices=("svg", "speedscope"),
                        help="what to write (default: by FILE's name, else svg)")
    parser.add_argument("--title", default="Flame graph", help="the graph's title")
    parser.add_argument("--unit", default="us",
                        help="what the values count (default: us, as pyflame writes)")
    parser.add_argument("--width", type=int, default=WIDTH, help="width in pixels")
    args = parser.parse_args(argv)
    try:
        if args.folded == "-":
            stacks = list(read_stacks(sys.stdin))
        else:
            with open(args.folded, encoding="utf-8", errors="replace") as file:
                stacks = list(read_stacks(file))
    except OSError as exc:
        print("%s: cannot read %s: %s" % (PROG, args.folded, exc.strerror), file=sys.stderr)
        return 1
    except FoldedError as exc:
        print("%s: %s: %s" % (PROG, args.folded, exc), file=sys.stderr)
        return 1
    if sum(value for _, value in stacks) <= 0:
        print("%s: %s holds no stacks" % (PROG, args.folded), file=sys.stderr)
        return 1
    kind = args.format or ("speedscope" if (args.output or "").endswith(".json") else "svg")
    if kind == "speedscope":
        from pyusdt_tracer import formats
        unit = SPEEDSCOPE_UNITS.get(args.unit, "none")
        text = json.dumps(formats.speedscope_from_folded(stacks, args.title, unit)) + "\n"
    else:
        text = render(tree(stacks), title=args.title, unit=args.unit,
                      width=max(args.width, 200))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
