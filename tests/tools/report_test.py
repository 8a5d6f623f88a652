#!/usr/bin/python3
"""tools/report: the 95 % confidence interval (its t table against the t distribution integrated
here), the generated summary on a known table, bad inputs (exact messages, exit 2), and reports
built from real `sim` runs (tests/sim/configs/small_4k.yaml, 4 modes x 2 queue depths x 2 seeds)
given as a sweep folder with a results.csv written the way tools/sweep writes it, as plain run
folders, and as the output folder of a config with `compare:`.

Run by ctest (tests/CMakeLists.txt) with the source directory as the working one; the sim binary
is $IOSIM_SIM (default build/bin/sim). tests/tools/report_chromium_test.py renders the report in
headless Chromium.
"""
import contextlib
import csv
import hashlib
import io
import importlib.machinery
import importlib.util
import json
import math
import os
import re
import shlex
import subprocess
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "report")
SIM = os.environ.get("IOSIM_SIM", os.path.join(ROOT, "build", "bin", "sim"))
BASE = os.path.join(ROOT, "tests", "sim", "configs", "small_4k.yaml")
PY = "/usr/bin/python3"

MODES = ["off", "passthrough", "strict", "lazy"]
DEPTHS = ["8", "16"]
SEEDS = [1, 2]
# Metrics a sweep collects: per run (dotted stats.json paths) and per workload (`workload.X` on
# the workload's row, as tools/sweep writes them); the rest the report reads from stats.json.
RUN_METRICS = ["cpu.ns_per_io", "iommu.mode", "iommu.iotlb.lookups", "iommu.iotlb.misses",
               "safety.lazy_window_ns.count", "safety.lazy_window_ns.p50",
               "safety.lazy_window_ns.p99", "sim.simulated_ns"]
WL_METRICS = ["iops", "latency_ns.p50", "latency_ns.p99", "completed"]
KEYS = ["platform.iommu.mode", "workloads.randread.iodepth"]


def load_tool():
    loader = importlib.machinery.SourceFileLoader("report_tool", TOOL)
    spec = importlib.util.spec_from_loader("report_tool", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def at(j, dotted):
    for k in dotted.split("."):
        if not isinstance(j, dict) or k not in j:
            return None
        j = j[k]
    return j


def cell(v):
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


def make_runs(out, duration="0.5ms", failing=True):
    """Runs sim for each point into OUT/runs/<id> and writes OUT/manifest.json, manifest.csv and
    results.csv as tools/sweep does (run id = hash of the overrides and the seed; results.csv in
    long form: one row per run and workload, a workload's metrics as `workload.X`). With
    `failing`, one more point has a value sim rejects: a failed row with its error."""
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)
    points = [({"platform.iommu.mode": m, "workloads.randread.iodepth": d}, s)
              for s in SEEDS for m in MODES for d in DEPTHS]
    if failing:
        points.append(({"platform.iommu.mode": "bogus", "workloads.randread.iodepth": "8"}, 1))
    runs, rows = [], []
    for over, seed in points:
        rid = hashlib.sha1(json.dumps([over, seed], sort_keys=True).encode()).hexdigest()[:12]
        runs.append({"run_id": rid, "rep": SEEDS.index(seed), "seed": seed, "overrides": over})
        cmd = [SIM, BASE, "--no-compare", "--duration", duration, "--seed", str(seed), "-q",
               "-o", os.path.join(out, "runs", rid)]
        for k, v in over.items():
            cmd += ["--set", f"{k}={v}"]
        runs[-1]["command"] = cmd
        p = subprocess.run(cmd, capture_output=True, text=True)
        base = {"run_id": rid, "status": "ok" if p.returncode == 0 else "failed",
                "error": "" if p.returncode == 0 else
                (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1],
                "rep": SEEDS.index(seed), "seed": seed, "workload": "", **over}
        if p.returncode != 0:
            rows.append(base)
            continue
        with open(os.path.join(out, "runs", rid, "stats.json")) as f:
            st = json.load(f)
        base.update({m: at(st, m) for m in RUN_METRICS})
        for wl, ws in st["workloads"].items():
            rows.append(dict(base, workload=wl,
                             **{"workload." + m: at(ws, m) for m in WL_METRICS}))
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"configs": [BASE], "keys": KEYS, "swept": KEYS, "repetitions": len(SEEDS),
                   "metrics": RUN_METRICS + ["workloads.*." + m for m in WL_METRICS],
                   "runs": [{k: r[k] for k in ("run_id", "rep", "seed", "overrides")}
                            for r in runs]}, f, indent=1)
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "run_id", "rep", "seed"] + KEYS + ["command"])
        for i, r in enumerate(runs):
            w.writerow([i, r["run_id"], r["rep"], r["seed"]] + [r["overrides"][k] for k in KEYS]
                       + [shlex.join(r["command"])])
    cols = (["run_id", "status", "error", "rep", "seed", "workload"] + KEYS +
            ["workload." + m for m in WL_METRICS] + RUN_METRICS)
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in rows:
            w.writerow([cell(r.get(c)) for c in cols])
    return rows


def run_tool(*args):
    p = subprocess.run([PY, TOOL, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def t_quantile(df, q=0.975):
    """Student t quantile by integrating the density (Simpson) and bisection: independent of the
    tool's table."""
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)

    def cdf(x):  # P(T <= x) for x >= 0
        n = 4000
        h = x / n
        s = 0.0
        for i in range(n + 1):
            t = i * h
            f = c * (1 + t * t / df) ** (-(df + 1) / 2)
            s += f * (1 if i in (0, n) else (4 if i % 2 else 2))
        return 0.5 + s * h / 3

    lo, hi = 0.0, 100.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
    return (lo + hi) / 2


class Units(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = load_tool()

    def test_t_table_matches_the_t_distribution(self):
        for df in list(range(1, 31)) + [40, 60, 120]:
            self.assertAlmostEqual(self.r.t975(df), t_quantile(df), delta=0.002, msg=f"df {df}")
        self.assertEqual(self.r.t975(10 ** 6), 1.96)

    def test_confidence_interval(self):
        m, h, n = self.r.mean_ci([1.0, 2.0, 3.0])  # sd 1, n 3: t(2) / sqrt(3)
        self.assertEqual((m, n), (2.0, 3))
        self.assertAlmostEqual(h, 4.303 / math.sqrt(3), places=9)
        m, h, n = self.r.mean_ci([10.0, 14.0])  # sd 2.828, n 2: 12.706 * 2
        self.assertAlmostEqual(h, 12.706 * 2, places=9)
        m, h, n = self.r.mean_ci([5.0, float("nan")])  # one value: no interval
        self.assertEqual((m, n), (5.0, 1))
        self.assertTrue(math.isnan(h))

    def test_summary_names_the_parameter_that_changes_the_metric_most(self):
        import pandas as pd
        # The headline's IOPS per mode (README), at two queue depths that barely change it.
        iops = {"off": 1244700, "passthrough": 1244700, "strict": 867200, "lazy": 1244100}
        rows = []
        for mode, v in iops.items():
            for depth, f in (("16", 1.0), ("32", 1.05)):
                rows.append({"platform.iommu.mode": mode, "workloads.randread.iodepth": depth,
                             "workloads.randread.iops": v * f})
        df = pd.DataFrame(rows)
        m = self.r.throughput_metric(df, "randread")
        s = self.r.summary_sentence(df, m, ["workloads.randread.iodepth", "platform.iommu.mode"])
        self.assertEqual(s, "IOPS (randread): platform.iommu.mode strict is 30 % below off "
                            "(889 k vs 1.28 M)")
        # Only the queue depth swept: it is named, with its 5 % change.
        s = self.r.summary_sentence(df[df["platform.iommu.mode"] == "strict"], m,
                                    ["workloads.randread.iodepth", "platform.iommu.mode"])
        self.assertEqual(s, "IOPS (randread): workloads.randread.iodepth 16 is 5 % below 32 "
                            "(867 k vs 911 k)")
        # Under 1 %: nothing named.
        flat = df.assign(**{"workloads.randread.iops": [5.0, 5.04] * 4})
        self.assertEqual(self.r.summary_sentence(flat, m, ["platform.iommu.mode"]),
                         "IOPS (randread): no swept parameter changes it by 1 % or more")
        # A factor of 10 or more is said as a factor ("99 % below" would hide it).
        wide = df.assign(**{"workloads.randread.iops": [1000.0, 1000.0] * 2 + [50.0, 50.0] * 2})
        self.assertEqual(self.r.summary_sentence(wide, m, ["platform.iommu.mode"]),
                         "IOPS (randread): platform.iommu.mode strict is 20 times below off "
                         "(50.0 vs 1.00 k)")

    def test_numbers_and_values_print_and_sort_as_meant(self):
        self.assertEqual(self.r.si(867200), "867 k")
        self.assertEqual(self.r.si(1244700), "1.24 M")
        self.assertEqual(self.r.ordered(["lazy", "off", "strict", "passthrough"]), MODES)
        self.assertEqual(self.r.ordered(["1GiB", "64KiB", "4MiB", "256"]),
                         ["256", "64KiB", "4MiB", "1GiB"])


class BadInputs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = os.path.join(self.tmp.name, "out")

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, *p):
        return os.path.join(self.tmp.name, *p)

    def write(self, rel, text):
        os.makedirs(os.path.dirname(self.path(rel)), exist_ok=True)
        with open(self.path(rel), "w") as f:
            f.write(text)
        return self.path(rel)

    @classmethod
    def setUpClass(cls):
        cls.r = load_tool()

    def run_main(self, args):
        """The tool's main() in this process (a process each costs seconds of imports)."""
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                rc = self.r.main(args)
            except SystemExit as e:
                rc = e.code
        return rc, err.getvalue()

    def check(self, args, message):
        rc, err = self.run_main([*args, "-o", self.out])
        self.assertEqual((rc, err.strip()), (2, f"report: error: {message}"))
        self.assertFalse(os.path.exists(os.path.join(self.out, "report.html")))

    def test_no_input(self):
        self.check([], "no input: give a sweep folder (with results.csv) or run folders")
        # and as a program: the same message and exit status
        rc, _, err = run_tool("-o", self.out)
        self.assertEqual((rc, err.strip()), (2, "report: error: no input: give a sweep folder "
                                                "(with results.csv) or run folders"))

    def test_missing_folder(self):
        self.check([self.path("nope")], f"{self.path('nope')}: no such folder")

    def test_folder_that_is_neither(self):
        os.makedirs(self.path("empty"))
        self.check([self.path("empty")], f"{self.path('empty')}: neither a sweep folder "
                   "(results.csv) nor a run folder (stats.json, config.yaml, manifest.json)")

    def test_empty_results_csv(self):
        self.write("sw/results.csv", "")
        self.check([self.path("sw")], f"{self.path('sw', 'results.csv')}: empty")

    def test_results_csv_without_rows(self):
        self.write("sw/results.csv", "run_id,status,error,rep,seed\n")
        self.check([self.path("sw")],
                   f"{self.path('sw', 'results.csv')}: no runs (a header and no rows)")

    def test_results_csv_without_status(self):
        self.write("sw/results.csv", "run_id,seed\na,1\n")
        self.check([self.path("sw")], f"{self.path('sw', 'results.csv')}: no column 'status'")

    def test_no_run_succeeded(self):
        self.write("sw/results.csv", "run_id,status,error,rep,seed,platform.iommu.mode\n"
                   "a,failed,sim exited with status 2,0,1,bogus\n"
                   "b,failed,killed,0,1,strict\n")
        self.check([self.path("sw")], "no run succeeded (2 failed: killed; sim exited with "
                   "status 2)")

    def test_unreadable_stats_json(self):
        self.write("run/manifest.json", '{"exit_status": 0, "seed": 1}')
        self.write("run/config.yaml", "sim: {seed: 1}\n")
        bad = self.write("run/stats.json", "{not json")
        rc, err = self.run_main([self.path("run"), "-o", self.out])
        self.assertEqual(rc, 2)
        self.assertTrue(err.startswith(f"report: error: {bad}: cannot read: "), err)

    def test_output_folder_is_required_with_run_folders(self):
        for name in ("a", "b"):
            self.write(f"{name}/manifest.json", '{"exit_status": 0, "seed": 1}')
            self.write(f"{name}/config.yaml", "sim: {seed: 1}\n")
            self.write(f"{name}/stats.json", '{"workloads": {"w": {"iops": 1, "completed": 1}}}')
        rc, err = self.run_main([self.path("a"), self.path("b")])
        self.assertEqual((rc, err.strip()), (2, "report: error: give the report's folder with -o "
                         "REPORT_DIR (the default, SWEEP_DIR/report, is for one sweep folder)"))


class RealRuns(unittest.TestCase):
    """One set of real runs (16 points and a failing one), read three ways."""

    @classmethod
    def setUpClass(cls):
        if not os.access(SIM, os.X_OK):
            raise RuntimeError(f"{SIM} not built (scripts/setup.sh builds it)")
        cls.tmp = tempfile.TemporaryDirectory()
        cls.sweep = os.path.join(cls.tmp.name, "sweep")
        cls.rows = make_runs(cls.sweep)
        cls.stats = {}
        for r in cls.rows:
            if r["status"] == "ok":
                with open(os.path.join(cls.sweep, "runs", r["run_id"], "stats.json")) as f:
                    cls.stats[r["run_id"]] = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def report(self, name, *inputs):
        """name None: the default output folder, SWEEP_DIR/report."""
        out = os.path.join(self.tmp.name, name) if name else os.path.join(inputs[0], "report")
        rc, stdout, err = run_tool(*inputs, *(["-o", out] if name else []), "--title", "small_4k")
        self.assertEqual(rc, 0, err)
        with open(os.path.join(out, "report.html")) as f:
            page = f.read()
        with open(os.path.join(out, "report.md")) as f:
            md = f.read()
        return out, stdout, page, md

    def mean_ci_of(self, mode, depth, path):
        vals = [at(self.stats[r["run_id"]], path) for r in self.rows if r["status"] == "ok"
                and r["platform.iommu.mode"] == mode and r["workloads.randread.iodepth"] == depth]
        self.assertEqual(len(vals), 2)
        m = sum(vals) / 2
        sd = math.sqrt(sum((v - m) ** 2 for v in vals))  # n - 1 = 1
        return m, 12.706 * sd / math.sqrt(2)

    def test_sweep_folder(self):
        out, stdout, page, md = self.report(None, self.sweep)
        r = load_tool()
        # Self-contained: no URL, plots inline; the Markdown's plots beside it.
        self.assertNotRegex(page, r"(?i)(https?:|//[a-z0-9.-]+\.[a-z]{2,}/|<link |src=\"(?!data:))")
        pngs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
        self.assertEqual(pngs, ["cpu.png", "lazy-window.png", "throughput-randread.png"])
        self.assertEqual(page.count('src="data:image/png;base64,'), len(pngs))
        for p in pngs:
            self.assertIn(f"]({p})", md)
            with open(os.path.join(out, p), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # What was run
        self.assertIn("| runs | 17 (16 ok, 1 failed), 8 point(s), 2 repetition(s) per point |", md)
        self.assertIn("| seeds | 1, 2 |", md)
        self.assertIn("| `platform.iommu.mode` | off, passthrough, strict, lazy |", md)
        self.assertIn("| `workloads.randread.iodepth` | 8, 16 |", md)
        self.assertIn(f"| base configs | {BASE} |", md)
        with open(os.path.join(self.sweep, "runs", self.rows[0]["run_id"], "manifest.json")) as f:
            man = json.load(f)
        self.assertIn(f"| git revision | {man['git_revision']} |", md)
        self.assertIn(f"iommu-sim {man['versions']['iommu-sim']}", md)
        failed = [x for x in self.rows if x["status"] == "failed"][0]
        self.assertIn("platform.iommu.mode", failed["error"])  # sim names the key
        self.assertIn(f"| {failed['run_id']} | iommu.mode=bogus, randread.iodepth=8 | "
                      f"{failed['error'].replace('|', chr(92) + '|')} |", md)
        # The numbers behind the throughput plot: the mean of the two seeds and t(1) * sd / sqrt(2).
        for mode in MODES:
            for depth in DEPTHS:
                m, h = self.mean_ci_of(mode, depth, "workloads.randread.iops")
                self.assertIn(f"| {mode} | {depth} | 2 | {r.si(m)} ± {r.si(h)} |", md)
        # CPU per I/O by function: the stacked bars add up to what the runs spent per I/O.
        cpu = md.split("## CPU time per I/O by kernel function")[1]
        total = re.search(r"\n\| total \| (.*) \|\n", cpu).group(1).split(" | ")
        per_io = re.search(r"\n\| cpu.ns_per_io \| (.*) \|\n", cpu).group(1).split(" | ")
        self.assertEqual(len(total), 8)
        for t, c in zip(total, per_io):
            self.assertAlmostEqual(float(t), float(c.split(" ± ")[0]), delta=0.01 * float(t))
        # strict's invalidation wait is its own top function; off has none of it
        wait = re.search(r"\n\| wait_on_sem \| (.*) \|\n", cpu).group(1).split(" | ")
        self.assertEqual(wait[0], "0")  # off, depth 8
        self.assertGreater(float(wait[4]), 500)  # strict, depth 8: ~1 us polling per unmap
        # The unmap window: strict only (off/passthrough unprotected, lazy does not flush in 0.5
        # ms), about a microsecond at the median.
        lw = md.split("## Unmap-to-invalidation window")[1]
        self.assertRegex(lw, r"\| strict \| 8 \| 2 \| 1\.\d ± ")
        self.assertNotRegex(lw, r"\| (off|passthrough|lazy) \| \d+ \| 2 \|")
        self.assertIn("Unprotected (no translation, unmapped memory stays reachable): "
                      "iommu.mode=off, randread.iodepth=8", lw)
        # Summary: computed from the runs. Strict's CPU per I/O is the highest (each unmap
        # invalidates and waits); the queue depth moves IOPS more than the mode at this size.
        self.assertRegex(stdout, r"CPU per I/O: platform\.iommu\.mode (off|passthrough) is \d+ % "
                         r"below strict \(")
        self.assertRegex(stdout, r"IOPS \(randread\): workloads\.randread\.iodepth 8 is \d+ % "
                         r"below 16 \(")
        for line in stdout.splitlines()[:-1]:
            self.assertIn(f"<li>{line}</li>", page)

    def test_run_folders_give_the_same_report(self):
        _, so_sweep, _, md_sweep = self.report("rep-sweep2", self.sweep)
        runs = sorted(os.path.join(self.sweep, "runs", x["run_id"]) for x in self.rows
                      if x["status"] == "ok")
        _, so_runs, _, md_runs = self.report("rep-runs", *runs)
        # the same parameters found from the configs, the same summary and plot tables
        self.assertEqual(so_sweep.splitlines()[:-1], so_runs.splitlines()[:-1])
        self.assertIn("| `platform.iommu.mode` | off, passthrough, strict, lazy |", md_runs)
        self.assertIn("| `workloads.randread.iodepth` | 8, 16 |", md_runs)
        tail = lambda md: md.split("## Throughput")[1]  # noqa: E731
        self.assertEqual(tail(md_sweep), tail(md_runs))

    def test_compare_output_folder(self):
        cfg = os.path.join(self.tmp.name, "cmp.yaml")
        with open(cfg, "w") as f:
            f.write("compare:\n  platform.iommu.mode: [strict, lazy]\n")
        out = os.path.join(self.tmp.name, "cmp")
        p = subprocess.run([SIM, BASE, cfg, "--duration", "0.5ms", "-q", "-o", out],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(os.path.join(out, "comparison.csv")))
        _, stdout, page, md = self.report("rep-cmp", out)
        self.assertIn("| `platform.iommu.mode` | strict, lazy |", md)
        self.assertIn("| runs | 2 (2 ok, 0 failed), 2 point(s), 1 repetition(s) per point |", md)
        self.assertRegex(stdout, r"CPU per I/O: platform\.iommu\.mode lazy is \d+ % below strict")


class DmabenchWindow(unittest.TestCase):
    """The IOTLB plot: a sweep of the DMA engine's window (tests/sim/configs/dmabench.yaml, IOTLB
    reach 256 x 4 KiB = 1 MiB), in results.csv's long form (one row per run and workload)."""

    def test_iotlb_miss_rate_against_the_window(self):
        with tempfile.TemporaryDirectory() as tmp:
            sweep = os.path.join(tmp, "sweep")
            base = os.path.join(ROOT, "tests", "sim", "configs", "dmabench.yaml")
            mets = ["iops", "bytes_per_s", "latency_ns.p99", "completed",
                    "iotlb.misses_per_transfer"]
            lines = ["run_id,status,error,rep,seed,workloads.bench.window,workload," +
                     ",".join(f"workloads.{w}.{m}" for w in ("bench", "randread")
                              for m in mets)]
            want = {}
            for window in ("64KiB", "4MiB"):
                rid = "w" + window
                d = os.path.join(sweep, "runs", rid)
                p = subprocess.run([SIM, base, "-q", "--set", f"workloads.bench.window={window}",
                                    "-o", d], capture_output=True, text=True)
                self.assertEqual(p.returncode, 0, p.stderr)
                with open(os.path.join(d, "stats.json")) as f:
                    st = json.load(f)
                want[window] = at(st, "workloads.bench.iotlb.misses_per_transfer")
                for i, wl in enumerate(("bench", "randread")):
                    cells = []
                    for w in ("bench", "randread"):
                        for m in mets:
                            v = at(st, f"workloads.{w}.{m}") if w == wl else None
                            cells.append("" if v is None else repr(v))
                    lines.append(f"{rid},ok,,0,1,{window},{wl}," + ",".join(cells))
            with open(os.path.join(sweep, "results.csv"), "w") as f:
                f.write("\n".join(lines) + "\n")
            out = os.path.join(tmp, "rep")
            rc, stdout, err = run_tool(sweep, "-o", out)
            self.assertEqual(rc, 0, err)
            with open(os.path.join(out, "report.md")) as f:
                md = f.read()
            self.assertTrue(os.path.exists(os.path.join(out, "iotlb.png")))
            sec = md.split("## IOTLB miss rate")[1].split("\n## ")[0]
            self.assertIn("IOTLB misses per transfer of the DMA benchmark 'bench', against "
                          "workloads.bench.window", sec)
            # inside the reach almost every read hits; at 4 x the reach most miss
            self.assertLess(want["64KiB"], 0.05)
            self.assertGreater(want["4MiB"], 0.5)
            for window in ("64KiB", "4MiB"):
                self.assertRegex(sec, rf"\| {window} \| 1 \| {100 * want[window]:.2f} \|")
            # the engine's throughput is in MB/s, and the window is what moved it
            self.assertIn("## Throughput and p99 latency per IOMMU mode: bench", md)
            self.assertRegex(stdout, r"bandwidth \(bench\): workloads\.bench\.window 4MiB is "
                             r"\d+ % below 64KiB")


if __name__ == "__main__":
    unittest.main()
