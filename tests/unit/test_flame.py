"""pyusdt.flame: folded stacks become a self-contained SVG flame graph whose
frames are as wide as their share, stacked root-first from the bottom."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import xml.etree.ElementTree as ElementTree

from pyusdt_tracer import flame
from tests import support

SVG = "{http://www.w3.org/2000/svg}"
NODE = shutil.which("node")
# A stand-in for the browser's DOM, enough for the SVG's script: frames
# come in as JSON, the script runs, a frame is clicked, and every frame's
# rectangle and visibility come out.
DOM = """
const spec = JSON.parse(process.argv[process.argv.length - 1]);
function element(attrs) {
  const node = {attrs: Object.assign({}, attrs), style: {}, textContent: "",
    listeners: {}, children: {},
    getAttribute(name) { return this.attrs[name] === undefined ? null : this.attrs[name]; },
    setAttribute(name, value) { this.attrs[name] = String(value); },
    addEventListener(kind, fn) { this.listeners[kind] = fn; },
    querySelector(tag) { return this.children[tag]; }};
  return node;
}
const nodes = spec.frames.map(f => {
  const g = element(f.g);
  g.children.rect = element(f.rect);
  g.children.text = element({});
  return g;
});
const elements = {details: element({}), background: element({}), reset: element({})};
global.document = {
  documentElement: element({"data-unit": "us"}),
  querySelectorAll() { return nodes; },
  getElementById(id) { return elements[id]; }};
eval(spec.script + "; global.init = init;");
init();
const target = nodes.find(g => g.attrs["data-name"] === spec.click);
target.listeners.mouseover({currentTarget: target});
const hover = elements.details.textContent;
target.listeners.click({currentTarget: target, stopPropagation() {}});
const zoomed = nodes.map(g => ({name: g.attrs["data-name"], display: g.style.display,
  x: +g.children.rect.attrs.x, width: +g.children.rect.attrs.width,
  label: g.children.text.textContent}));
const resetShown = elements.reset.style.display;
elements.background.listeners.click();
const restored = nodes.map(g => ({name: g.attrs["data-name"], display: g.style.display,
  width: +g.children.rect.attrs.width}));
console.log(JSON.stringify({details: hover, zoomed, reset: restored, resetShown,
                            resetHidden: elements.reset.style.display}));
"""
FOLDED = """\
main (app.py:1);work (app.py:5);fib (app.py:9) 30
main (app.py:1);work (app.py:5) 10
main (app.py:1);idle (app.py:20) 60

# a comment, and a blank line above
"""


def frames(svg: str) -> dict[str, ElementTree.Element]:
    """The frame groups of SVG by name (each name drawn once here)."""
    root = ElementTree.fromstring(svg)
    return {group.get("data-name"): group for group in root.iter(SVG + "g")
            if group.get("class") == "frame"}


def box(group: ElementTree.Element) -> tuple[float, float, float]:
    rect = group.find(SVG + "rect")
    return float(rect.get("x")), float(rect.get("y")), float(rect.get("width"))


class ParseTest(support.NoToolLeftBehind):

    def test_merges_stacks_into_a_tree_of_totals(self) -> None:
        root = flame.parse(FOLDED.splitlines())
        self.assertEqual(root.value, 100)
        main = root.children["main (app.py:1)"]
        self.assertEqual(main.value, 100)
        self.assertEqual(main.children["work (app.py:5)"].value, 40)
        self.assertEqual(main.children["work (app.py:5)"].children["fib (app.py:9)"].value, 30)
        self.assertEqual(main.children["idle (app.py:20)"].value, 60)
        self.assertEqual(root.depth(), 4)

    def test_frames_may_hold_spaces_and_values_may_be_fractions(self) -> None:
        root = flame.parse(["a b;c d 1.5", "a b 2"])
        self.assertEqual(root.children["a b"].value, 3.5)
        self.assertEqual(root.children["a b"].children["c d"].value, 1.5)

    def test_a_line_without_a_value_is_an_error_naming_its_line(self) -> None:
        with self.assertRaisesRegex(flame.FoldedError, "line 2"):
            flame.parse(["a;b 1", "a;b"])
        with self.assertRaisesRegex(flame.FoldedError, "line 1"):
            flame.parse(["a;b -3"])


class RenderTest(support.NoToolLeftBehind):

    def setUp(self) -> None:
        self.svg = flame.render(flame.parse(FOLDED.splitlines()), title="Test <graph>",
                                width=1000)
        self.frames = frames(self.svg)

    def test_is_one_self_contained_svg_document(self) -> None:
        root = ElementTree.fromstring(self.svg)
        self.assertEqual(root.tag, SVG + "svg")
        self.assertIsNotNone(root.find(SVG + "script"))
        # Nothing fetched from elsewhere: no links, no external references.
        for element in root.iter():
            for name, value in element.attrib.items():
                self.assertNotIn("href", name)
                self.assertNotRegex(value, r"^(https?:|//)")
        self.assertNotIn("http://www.w3.org/1999/xlink", self.svg)
        self.assertIn("Test &lt;graph&gt;", self.svg)

    def test_draws_each_frame_once_with_its_share_in_its_tooltip(self) -> None:
        self.assertEqual(set(self.frames), {"all", "main (app.py:1)", "work (app.py:5)",
                                            "fib (app.py:9)", "idle (app.py:20)"})
        tooltip = self.frames["work (app.py:5)"].find(SVG + "title").text
        self.assertEqual(tooltip, "work (app.py:5) (40 us, 40.00%)")
        self.assertEqual(self.frames["fib (app.py:9)"].get("data-share"), "30.00")

    def test_widths_are_proportional_and_children_stand_on_their_parents(self) -> None:
        all_x, all_y, all_width = box(self.frames["all"])
        main_x, main_y, main_width = box(self.frames["main (app.py:1)"])
        work_x, work_y, work_width = box(self.frames["work (app.py:5)"])
        fib_x, fib_y, fib_width = box(self.frames["fib (app.py:9)"])
        idle_x, idle_y, idle_width = box(self.frames["idle (app.py:20)"])
        self.assertAlmostEqual(main_width, all_width, delta=0.01)
        self.assertAlmostEqual(work_width / all_width, 0.4, delta=0.01)
        self.assertAlmostEqual(idle_width / all_width, 0.6, delta=0.01)
        self.assertAlmostEqual(fib_width / all_width, 0.3, delta=0.01)
        # The root at the bottom, each level one frame higher.
        self.assertGreater(all_y, main_y)
        self.assertGreater(main_y, work_y)
        self.assertEqual(work_y, idle_y)
        self.assertGreater(work_y, fib_y)
        # Children sorted by name from their parent's left edge; a child
        # lies within its parent.
        self.assertAlmostEqual(idle_x, main_x, delta=0.01)
        self.assertAlmostEqual(work_x, idle_x + idle_width, delta=1)
        self.assertGreaterEqual(fib_x, work_x)
        self.assertLessEqual(fib_x + fib_width, work_x + work_width + 0.01)

    def test_labels_fit_their_frames(self) -> None:
        narrow = flame.render(flame.parse(["a_very_long_function_name_indeed 1",
                                           "b 200"]), width=300)
        label = frames(narrow)["a_very_long_function_name_indeed"].find(SVG + "text").text
        self.assertFalse(label)   # too narrow for any text
        wide = frames(narrow)["b"].find(SVG + "text").text
        self.assertEqual(wide, "b")

    def test_frames_too_narrow_to_see_are_left_out(self) -> None:
        svg = flame.render(flame.parse(["big 1000000", "tiny 1"]), width=1000)
        self.assertNotIn("tiny", frames(svg))

    def test_the_same_name_always_gets_the_same_colour(self) -> None:
        svg = flame.render(flame.parse(["x;y 1", "y 1"]), width=400)
        fills = [group.find(SVG + "rect").get("fill")
                 for group in ElementTree.fromstring(svg).iter(SVG + "g")
                 if group.get("data-name") == "y"]
        self.assertEqual(len(fills), 2)
        self.assertEqual(fills[0], fills[1])


@unittest.skipIf(NODE is None, "node is not installed to run the SVG's script")
class ScriptTest(support.NoToolLeftBehind):
    """The SVG's own script, run by node against a stand-in DOM."""

    def click(self, svg: str, name: str) -> dict:
        root = ElementTree.fromstring(svg)
        spec = {"script": root.find(SVG + "script").text, "click": name, "frames": [
            {"g": dict(group.attrib), "rect": dict(group.find(SVG + "rect").attrib)}
            for group in root.iter(SVG + "g") if group.get("class") == "frame"]}
        run = subprocess.run([NODE, "-e", DOM, "--", json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        return json.loads(run.stdout)

    def test_hover_describes_and_click_zooms_into_a_frame(self) -> None:
        width = 1000
        svg = flame.render(flame.parse(FOLDED.splitlines()), width=width)
        result = self.click(svg, "work (app.py:5)")
        self.assertEqual(result["details"], "work (app.py:5) (40 us, 40.00%)")
        zoomed = {frame["name"]: frame for frame in result["zoomed"]}
        full = width - 2 * flame.PAD_SIDE
        # The clicked frame and its ancestors span the graph; its child keeps
        # its share of it (30 of 40); its sibling is hidden.
        for name in ("work (app.py:5)", "main (app.py:1)", "all"):
            self.assertAlmostEqual(zoomed[name]["width"], full - 0.5, delta=0.01, msg=name)
            self.assertAlmostEqual(zoomed[name]["x"], flame.PAD_SIDE, delta=0.01)
        self.assertAlmostEqual(zoomed["fib (app.py:9)"]["width"], full * 0.75 - 0.5,
                               delta=0.01)
        self.assertEqual(zoomed["idle (app.py:20)"]["display"], "none")
        self.assertEqual(zoomed["fib (app.py:9)"]["label"], "fib (app.py:9)")
        self.assertEqual(result["resetShown"], "")
        self.assertEqual(result["resetHidden"], "none")
        # Clicking the background puts everything back.
        original = {name: box(group)[2] for name, group in frames(svg).items()}
        for frame in result["reset"]:
            self.assertEqual(frame["display"], "")
            self.assertAlmostEqual(frame["width"], original[frame["name"]], delta=0.01)


class CommandLineTest(support.NoToolLeftBehind):

    def test_writes_the_svg_file_from_a_folded_file(self) -> None:
        with tempfile.TemporaryDirectory() as scratch:
            folded = os.path.join(scratch, "stacks.folded")
            with open(folded, "w") as file:
                file.write(FOLDED)
            out = os.path.join(scratch, "flame.svg")
            run = support.run_python(["-m", "pyusdt.flame", folded, "-o", out,
                                      "--title", "mine"])
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual(run.stdout, "")
            with open(out) as file:
                svg = file.read()
        self.assertIn("fib (app.py:9)", frames(svg))

    def test_reads_stdin_and_writes_stdout(self) -> None:
        run = support.run_python(["-m", "pyusdt.flame", "-"], input="a;b 2\na 1\n")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(set(frames(run.stdout)), {"all", "a", "b"})

    def test_bad_input_is_reported_with_status_1(self) -> None:
        run = support.run_python(["-m", "pyusdt.flame", "-"], input="no value here\n")
        self.assertEqual(run.returncode, 1)
        self.assertIn("line 1", run.stderr)
        run = support.run_python(["-m", "pyusdt.flame", "-"], input="\n")
        self.assertEqual(run.returncode, 1)
        self.assertIn("holds no stacks", run.stderr)
        run = support.run_python(["-m", "pyusdt.flame", "/nonexistent/stacks"])
        self.assertEqual(run.returncode, 1)
        self.assertIn("cannot read", run.stderr)

    def test_python_m_pyusdt_flame_never_maps_libpyusdt(self) -> None:
        # Its maps are read while it waits for the rest of stdin (a blocking
        # read of a pipe): everything it imports is imported by then.
        proc = subprocess.Popen([support.PYTHON, "-m", "pyusdt.flame", "-"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=support.env())
        try:
            proc.stdin.write("a;b 2\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 60
            while not support.waits_on_stdin(proc.pid):
                self.assertIsNone(proc.poll(), "it exited before reading all of stdin")
                self.assertLess(time.monotonic(), deadline, "it never read stdin")
                time.sleep(0.01)
            with open("/proc/%d/maps" % proc.pid) as maps:
                mapped = maps.read()
            out, err = proc.communicate("a 1\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(set(frames(out)), {"all", "a", "b"})
        self.assertNotIn("libpyusdt", mapped)


if __name__ == "__main__":
    unittest.main()
