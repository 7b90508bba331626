"""pytimeline's files in a real browser: speedscope (the npm package's built
files, served from 127.0.0.1) in headless Chromium driven by playwright-core
(tests/browser/view.mjs) loads a speedscope file and a Chrome trace that
pytimeline wrote for tests/targets/timeline_work.py: no console errors,
each thread's name on its profile, known functions in the Sandwich table.
The screenshots are kept in build/artifacts/ (docs/images/ holds one).

Needs bpftrace, node, Chromium (Debian's chromium; $CHROMIUM names
another) and the npm packages of build/node/package.json (`make
browser-deps`; .ci/run installs all of them)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest

from tests import support
from tests.e2e import toolrun
from tests.e2e.test_timeline import run_timeline

NODE_DIR = os.path.join(support.REPO, "build", "node")
SPEEDSCOPE = os.path.join(NODE_DIR, "node_modules", "speedscope", "dist", "release")
PLAYWRIGHT = os.path.join(NODE_DIR, "node_modules", "playwright-core")
VIEW = os.path.join(support.REPO, "tests", "browser", "view.mjs")
ARTIFACTS = os.path.join(support.REPO, "build", "artifacts")
TIMEOUT = 180


def chromium() -> str | None:
    given = os.environ.get("CHROMIUM")
    if given:
        return shutil.which(given)
    return shutil.which("chromium") or shutil.which("chromium-browser")


def skip_reason() -> str | None:
    """Which prerequisite of the browser tests is missing, or None."""
    reason = toolrun.skip_reason(tracepoints=True)
    if reason is not None:
        return reason
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs npm)"
    if chromium() is None:
        return "Chromium is not installed (apt-get install chromium, or set $CHROMIUM)"
    for path, package in ((SPEEDSCOPE, "speedscope"), (PLAYWRIGHT, "playwright-core")):
        if not os.path.isdir(path):
            return "the npm package %s is not in %s (make browser-deps)" % (package, NODE_DIR)
    return None


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class Viewer:
    """speedscope's files and the traces to show, served from 127.0.0.1 by
    a thread of this process."""

    def __init__(self) -> None:
        self.root = tempfile.mkdtemp(prefix="pyusdt-viewer-")
        shutil.copytree(SPEEDSCOPE, self.root, dirs_exist_ok=True)
        handler = functools.partial(_Quiet, directory=self.root)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, name: str, data: dict) -> str:
        """Serves DATA as NAME; the URL that opens it in speedscope."""
        with open(os.path.join(self.root, name), "w") as file:
            json.dump(data, file)
        return "http://127.0.0.1:%d/index.html#profileURL=/%s" % (
            self.server.server_address[1], name)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.root, ignore_errors=True)


def view(url: str, screenshot: str, profiles: int, *texts: str) -> dict:
    """What tests/browser/view.mjs saw of URL in headless Chromium."""
    env = support.outside_env(PLAYWRIGHT_CORE=PLAYWRIGHT)
    run = subprocess.run(["node", VIEW, chromium(), url, screenshot, str(profiles), *texts],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=NODE_DIR, env=env, timeout=TIMEOUT)
    if run.returncode != 0:
        raise AssertionError("view.mjs failed (status %d):\n%s\n%s"
                             % (run.returncode, run.stdout[-3000:], run.stderr[-3000:]))
    return json.loads(run.stdout.strip().splitlines()[-1])


SKIP = skip_reason()


@unittest.skipIf(SKIP, SKIP)
class SpeedscopeBrowserTest(unittest.TestCase):
    """timeline_work.py traced once per format, each file shown once."""

    @classmethod
    def setUpClass(cls) -> None:
        os.makedirs(ARTIFACTS, exist_ok=True)
        cls.viewer = Viewer()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.viewer.close()

    def show(self, fmt: str) -> tuple[dict, dict, str]:
        traced, data = run_timeline("timeline_work.py", "--format", fmt)
        self.assertEqual(traced.returncode, 0, traced.describe())
        # N.B. speedscope takes a file named *.chrome.json for a Chrome
        # DevTools profile, not a trace.
        url = self.viewer.add("timeline-%s.json" % fmt, data)
        shot = os.path.join(ARTIFACTS, "timeline-%s-%s.png" % (fmt, support.BUILD_NAME))
        profiles = len(data["profiles"]) if fmt == "speedscope" else 2
        seen = view(url, shot, profiles, "tid")
        self.assertTrue(os.path.getsize(shot) > 0)
        return data, seen, shot

    def test_speedscope_file_shows_each_thread_and_its_functions(self) -> None:
        data, seen, shot = self.show("speedscope")
        self.assertEqual(seen["errors"], [], seen)
        names = [profile["name"] for profile in data["profiles"]]
        self.assertEqual(len(names), 2, names)
        for name, text in zip(names, seen["profiles"]):
            self.assertIn(name, text, "%s: %s" % (shot, seen))
        # The Sandwich table lists the functions of the profile shown last:
        # the worker thread's.
        for function in ("sleeper", "writer", "worker"):
            self.assertRegex(seen["sandwich"], r"(?m)^\s*%s\s*$" % re.escape(function),
                             "%s: %s" % (shot, seen["sandwich"][:3000]))
        self.assertIn("clock_nanosleep", seen["sandwich"])

    def test_chrome_trace_imports_with_its_thread_names(self) -> None:
        data, seen, shot = self.show("chrome")
        self.assertEqual(seen["errors"], [], seen)
        threads = {event["tid"]: event["args"]["name"] for event in data["traceEvents"]
                   if event["ph"] == "M" and event["name"] == "thread_name"}
        self.assertEqual(len(threads), 2, threads)
        shown = "\n".join(seen["profiles"])
        for tid, name in threads.items():
            self.assertIn("%s (tid %d)" % (name, tid), shown, "%s: %s" % (shot, shown))
        for function in ("sleeper", "writer"):
            self.assertRegex(seen["sandwich"], r"(?m)^\s*%s \{" % re.escape(function),
                             "%s: %s" % (shot, seen["sandwich"][:3000]))


if __name__ == "__main__":
    unittest.main()
