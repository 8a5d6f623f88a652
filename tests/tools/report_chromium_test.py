#!/usr/bin/python3
"""tools/report's page in headless Chromium: a report built from real `sim` runs (a sweep folder,
as in report_test.py) loads without a script error or console message, and every plot decodes
(the page's own load handler marks <body data-loaded="ok" data-images=N data-broken=0>).
Two controls prove the checks can fail: a copy of the report with one plot's PNG damaged reads
data-loaded="broken", and a page with a script error is caught in Chromium's console log.

Exit status 77 (ctest SKIP_RETURN_CODE) with the reason when Chromium is missing or cannot start
(it is installed by scripts/setup.sh: Debian's chromium); 0 pass, 1 fail.
Usage: report_chromium_test.py (sim binary: $IOSIM_SIM, default build/bin/sim)
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report_test  # noqa: E402  (the real runs, arranged as tools/sweep arranges them)

CHROMIUM = os.environ.get("IOSIM_CHROMIUM", "/usr/bin/chromium")
SKIP = 77


def render(page, tmp):
    """Chromium's DOM after the load event, and its log lines about the page (console messages,
    uncaught errors). Chromium's own log lines (D-Bus, GPU) are not the page's and are ignored."""
    p = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--user-data-dir=" + os.path.join(tmp, "profile"),
                        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                        "--dump-dom", "file://" + os.path.abspath(page)],
                       capture_output=True, text=True, timeout=120)
    page_lines = [ln for ln in p.stderr.splitlines()
                  if ":CONSOLE" in ln or "Uncaught" in ln]
    return p.returncode, p.stdout, page_lines, p.stderr


def body_attrs(dom):
    m = re.search(r"<body([^>]*)>", dom)
    return dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1))) if m else None


def main():
    if not os.access(CHROMIUM, os.X_OK):
        print(f"SKIPPED: {CHROMIUM} not found (scripts/setup.sh installs Debian's chromium)")
        return SKIP
    if not os.access(report_test.SIM, os.X_OK):
        print(f"FAIL: {report_test.SIM} not built")
        return 1
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        # Can Chromium run here at all? A trivial page; if not, say why and skip.
        hello = os.path.join(tmp, "hello.html")
        with open(hello, "w") as f:
            f.write('<!DOCTYPE html><html><body><p id="x">hello</p></body></html>')
        try:
            rc, dom, _, err = render(hello, tmp)
        except (OSError, subprocess.TimeoutExpired) as e:
            print(f"SKIPPED: Chromium cannot run here: {e}")
            return SKIP
        if rc != 0 or 'id="x">hello<' not in dom:
            print(f"SKIPPED: Chromium cannot render a page here (exit status {rc}):")
            print("\n".join(err.splitlines()[-15:]))
            return SKIP

        sweep = os.path.join(tmp, "sweep")
        report_test.make_runs(sweep)
        out = os.path.join(tmp, "report")
        p = subprocess.run([report_test.PY, report_test.TOOL, sweep, "-o", out],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"FAIL: tools/report exit status {p.returncode}\n{p.stderr}")
            return 1
        page = os.path.join(out, "report.html")
        pngs = [f for f in os.listdir(out) if f.endswith(".png")]

        rc, dom, logs, err = render(page, tmp)
        attrs = body_attrs(dom) or {}
        print(f"report.html in Chromium: exit status {rc}, body {attrs}, {len(pngs)} plots "
              f"written, {len(logs)} page log lines")
        if rc != 0:
            failures.append(f"chromium exit status {rc}: {err[-2000:]}")
        if attrs.get("data-loaded") != "ok":
            failures.append(f"the page's load check did not pass: {attrs}")
        if attrs.get("data-images") != str(len(pngs)) or len(pngs) < 3:
            failures.append(f"{attrs.get('data-images')} images on the page, {len(pngs)} plots "
                            "written (3 expected at least: throughput, CPU, unmap window)")
        if attrs.get("data-broken") != "0":
            failures.append(f"{attrs.get('data-broken')} images did not decode")
        if logs:
            failures.append("the page logged:\n" + "\n".join(logs))
        if "<h2" not in dom or "Throughput and p99 latency" not in dom:
            failures.append("the report's sections are not in the DOM")

        # Control 1: a damaged plot must be seen as such.
        with open(page) as f:
            text = f.read()
        damaged = os.path.join(tmp, "damaged.html")
        with open(damaged, "w") as f:
            f.write(re.sub(r'(src="data:image/png;base64,)[^"]{64}', r"\1AAAA", text, count=1))
        _, dom, _, _ = render(damaged, tmp)
        a = body_attrs(dom) or {}
        if a.get("data-loaded") != "broken" or a.get("data-broken") != "1":
            failures.append(f"control: a damaged PNG was not detected: {a}")

        # Control 2: a script error must reach the log the check reads.
        bad = os.path.join(tmp, "bad.html")
        with open(bad, "w") as f:
            f.write(text.replace("</body>", "<script>noSuchFunction();</script></body>"))
        _, _, logs, _ = render(bad, tmp)
        if not any("Uncaught ReferenceError" in ln for ln in logs):
            failures.append("control: a script error was not seen in Chromium's log")

    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print("PASS: the report loads in headless Chromium with all its plots decoded")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
