#!/usr/bin/python3
"""tools/sweep, local backend, through the real sim program.
    tests/tools/sweep_test.py [SIM]      (default: build/bin/sim)
"""
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEP = os.path.join(ROOT, "tools", "sweep")
SMALL = os.path.join(ROOT, "tests", "sim", "configs", "small_4k.yaml")
SIM = os.path.join(ROOT, "build", "bin", "sim")


def sweep(*args, env=None):
    e = dict(os.environ, SWEEP_SIM=SIM)
    e.update(env or {})
    p = subprocess.run(["/usr/bin/python3", SWEEP] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=e, timeout=600)
    return p.returncode, p.stdout, p.stderr


def text(path):
    with open(path) as f:
        return f.read()


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        p = f"{prefix}.{k}" if prefix else k
        out.update(flat(v, p) if isinstance(v, dict) else {p: v})
    return out


def same(cell, value):
    """A results.csv cell holds the stats.json value exactly."""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, float):
        return float(cell) == value
    return cell == str(value)


class SweepTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sweep-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, text, name="s.yaml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # ------------------------------------------------------------ expansion

    def test_expansion_grid_zip_repetitions(self):
        s = self.write(f"""base: {SMALL}
set: {{sim.warmup: 100us}}
axes:
  grid:
    platform.iommu.mode: [off, strict, lazy]
  zip:
    workloads.randread.iodepth: [4, 16]
    workloads.randread.jobs: [1, 2]
repetitions: 2
""")
        out = os.path.join(self.tmp, "out")
        rc, stdout, err = sweep(s, "-o", out, "--dry-run")
        self.assertEqual(rc, 0, err)
        rows = read_csv(os.path.join(out, "manifest.csv"))
        self.assertEqual(len(rows), 3 * 2 * 2)
        self.assertEqual(len(stdout.splitlines()), 12)  # one command per run
        ids = [r["run_id"] for r in rows]
        self.assertEqual(len(set(ids)), 12, "run ids distinct")
        # zip varies together: iodepth 4 always with jobs 1
        self.assertEqual({(r["workloads.randread.iodepth"], r["workloads.randread.jobs"]) for r in rows},
                         {("4", "1"), ("16", "2")})
        self.assertEqual({r["platform.iommu.mode"] for r in rows}, {"off", "strict", "lazy"})  # `off` not False
        self.assertTrue(all(r["sim.warmup"] == "100us" for r in rows))
        # seeds: one per repetition, the same for every point, derived (not the base seed 1)
        seeds = {r["rep"]: set() for r in rows}
        for r in rows:
            seeds[r["rep"]].add(r["seed"])
        self.assertEqual(sorted(seeds), ["0", "1"])
        self.assertTrue(all(len(v) == 1 for v in seeds.values()))
        self.assertNotEqual(seeds["0"], seeds["1"])
        self.assertNotIn("1", seeds["0"] | seeds["1"])
        # stable: the same file expands to the same ids and seeds
        rc, stdout2, _ = sweep(s, "-o", os.path.join(self.tmp, "out2"), "--dry-run")
        rows2 = read_csv(os.path.join(self.tmp, "out2", "manifest.csv"))
        self.assertEqual([(r["run_id"], r["seed"]) for r in rows], [(r["run_id"], r["seed"]) for r in rows2])
        # each command pins the seed and the overrides
        cmd = rows[0]["command"]
        self.assertIn(f"--seed {rows[0]['seed']}", cmd)
        self.assertIn("--no-compare", cmd)
        self.assertIn("--set platform.iommu.mode=off", cmd)
        # another base seed derives other seeds and so other ids
        s3 = self.write(text(s) + "seed: 7\n", "s3.yaml")
        sweep(s3, "-o", os.path.join(self.tmp, "out3"), "--dry-run")
        rows3 = read_csv(os.path.join(self.tmp, "out3", "manifest.csv"))
        self.assertTrue(set(r["seed"] for r in rows3).isdisjoint(r["seed"] for r in rows))
        self.assertTrue(set(r["run_id"] for r in rows3).isdisjoint(ids))

    # ------------------------------------------------------------ running, results, resume

    def test_results_equal_stats_and_resume(self):
        base = self.write(text(SMALL), "base.yaml")
        s = self.write("""base: base.yaml
duration: 300us
set: {sim.warmup: 100us}
axes:
  grid:
    platform.iommu.mode: [strict, lazy]
repetitions: 2
metrics: [default, kernel.iova.alloc_fast]
""")
        out = os.path.join(self.tmp, "out")
        rc, _, err = sweep(s, "-o", out, "-j", "2")
        self.assertEqual(rc, 0, err)
        rows = read_csv(os.path.join(out, "results.csv"))
        self.assertEqual(len(rows), 4)  # one workload per run
        cols = list(rows[0].keys())
        self.assertEqual(cols[:9], ["run_id", "status", "error", "rep", "seed", "workload", "sim.warmup",
                                    "sim.duration", "platform.iommu.mode"])
        self.assertTrue(cols[9].startswith("workload."), cols[9])
        for c in ("workload.latency_ns.p99", "cpu.ns_per_io", "iommu.iotlb.hit_rate", "kernel.iova.alloc_fast",
                  "iommu.invalidation.completion_waits", "safety.lazy_window_ns.p99", "cpu.busy_ns_by_function.fio"):
            self.assertIn(c, cols)
        # a function idle in every run (Wi-Fi's) gets no column
        self.assertNotIn("cpu.busy_ns_by_function.mt7921_irq_handler", cols)
        for r in rows:
            self.assertEqual((r["status"], r["error"], r["workload"]), ("ok", "", "randread"))
            stats = flat(load_json(os.path.join(out, "runs", r["run_id"], "stats.json")))
            self.assertEqual(r["seed"], str(stats["sim.seed"]))
            self.assertEqual(r["platform.iommu.mode"], stats["iommu.mode"])
            self.assertEqual(stats["sim.simulated_ns"], 300000)
            for c in cols:
                if c.startswith("workload."):
                    self.assertTrue(same(r[c], stats["workloads.randread." + c[len("workload."):]]), c)
                elif "." in c and c in stats:
                    self.assertTrue(same(r[c], stats[c]), c)
            busy = sum(float(r[c]) for c in cols if c.startswith("cpu.busy_ns_by_function."))
            self.assertGreater(busy, 0)
        # strict waits for every unmap's invalidation; lazy batches them in the flush queue
        by_mode = {r["platform.iommu.mode"]: r for r in rows if r["rep"] == "0"}
        self.assertGreater(int(by_mode["strict"]["iommu.invalidation.completion_waits"]),
                           int(by_mode["lazy"]["iommu.invalidation.completion_waits"]))
        # resume: nothing runs again
        mtimes = {r["run_id"]: os.stat(os.path.join(out, "runs", r["run_id"], "stats.json")).st_mtime_ns
                  for r in rows}
        rc, _, err = sweep(s, "-o", out)
        self.assertEqual(rc, 0, err)
        self.assertIn("4/4 done (4 already)", err)
        for rid, m in mtimes.items():
            self.assertEqual(os.stat(os.path.join(out, "runs", rid, "stats.json")).st_mtime_ns, m, rid)
        self.assertEqual(read_csv(os.path.join(out, "results.csv")), rows)
        # a run whose folder holds another config (other seed) runs again, the others do not
        victim = rows[1]["run_id"]
        rec_path = os.path.join(out, "runs", victim, "sweep_run.json")
        rec = load_json(rec_path)
        rec["seed"] += 1
        with open(rec_path, "w") as f:
            json.dump(rec, f)
        rc, _, err = sweep(s, "-o", out)
        self.assertEqual(rc, 0, err)
        self.assertIn("4/4 done (3 already)", err)
        for rid, m in mtimes.items():
            changed = os.stat(os.path.join(out, "runs", rid, "stats.json")).st_mtime_ns != m
            self.assertEqual(changed, rid == victim, rid)
        self.assertEqual(read_csv(os.path.join(out, "results.csv")), rows)  # deterministic: same values
        # an edited base config reruns every run
        with open(base, "a") as f:
            f.write("# edited\n")
        rc, _, err = sweep(s, "-o", out)
        self.assertEqual(rc, 0, err)
        self.assertIn("4/4 done (0 already)", err)
        self.assertEqual(read_csv(os.path.join(out, "results.csv")), rows)
        # --aggregate rewrites the same results.csv
        os.remove(os.path.join(out, "results.csv"))
        rc, _, err = sweep("--aggregate", out)
        self.assertEqual(rc, 0, err)
        self.assertEqual(read_csv(os.path.join(out, "results.csv")), rows)

    def test_failed_point_recorded_others_run(self):
        s = self.write(f"""base: {SMALL}
duration: 200us
set: {{sim.warmup: 50us}}
axes:
  grid:
    platform.iommu.iotlb.entries: [64, 0, 256]
""")
        out = os.path.join(self.tmp, "out")
        rc, _, err = sweep(s, "-o", out, "-q")
        self.assertEqual(rc, 1, err)
        rows = read_csv(os.path.join(out, "results.csv"))
        self.assertEqual([r["platform.iommu.iotlb.entries"] for r in rows], ["64", "0", "256"])
        self.assertEqual([r["status"] for r in rows], ["ok", "failed", "ok"])
        bad = rows[1]
        # the error is the last line sim printed on stderr, naming the key
        stderr = text(os.path.join(out, "runs", bad["run_id"], "stderr.txt")).strip().splitlines()
        self.assertEqual(bad["error"], stderr[-1].strip())
        self.assertIn("platform.iommu.iotlb.entries", bad["error"])
        self.assertEqual(bad["workload.iops"], "")
        self.assertGreater(int(rows[0]["workload.iops"]), 0)
        self.assertGreater(int(rows[2]["workload.iops"]), 0)
        # the failed run is tried again on resume; the ok ones are not
        rc, _, err = sweep(s, "-o", out)
        self.assertEqual(rc, 1)
        self.assertIn("3/3 done (2 already), 0 running, 1 failed", err)
        self.assertIn(f"run {bad['run_id']} failed: {bad['error']}", err)

    # ------------------------------------------------------------ the ready-made studies

    def test_studies_expand_to_valid_configs(self):
        expected = {"nvme.yaml": 4 * 4 * 4 * 3, "iotlb.yaml": 2 * 4 * 9, "wifi.yaml": 4 * 5 * 3}
        folder = os.path.join(ROOT, "configs", "sweeps")
        self.assertEqual(sorted(os.listdir(folder)), sorted(expected))
        for name, n in expected.items():
            out = os.path.join(self.tmp, name)
            rc, stdout, err = sweep(os.path.join(folder, name), "-o", out, "--dry-run")
            self.assertEqual(rc, 0, err)
            self.assertEqual(len(read_csv(os.path.join(out, "manifest.csv"))), n, name)
            # every point of repetition 0 is a valid configuration for sim
            for cmd in stdout.splitlines()[: n // load_json(os.path.join(out, "manifest.json"))["repetitions"]]:
                args = shlex.split(cmd)
                args = args[: args.index("-q")] + ["--validate"]
                p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                self.assertEqual(p.returncode, 0, f"{name}: {cmd}: {p.stdout}")

    # ------------------------------------------------------------ bad sweep files

    def test_bad_sweep_files(self):
        cases = [
            ("axes: {grid: {platform.iommu.mode: [off]}}\n", "base: missing (one config file or a list)"),
            (f"base: {SMALL}\nbogus: 1\n",
             "unknown key 'bogus' (expected one of: base, set, axes, repetitions, seed, duration, metrics, "
             "description)"),
            ("base: nope.yaml\n", f"base: 'nope.yaml' not found (looked for {self.tmp}/nope.yaml)"),
            (f"base: {SMALL}\naxes: {{grid: {{platform.iommu.mode: []}}}}\n",
             "axes.grid.platform.iommu.mode: expected a non-empty list of values"),
            (f"base: {SMALL}\naxes: {{grid: {{platform.iommu.mode: lazy}}}}\n",
             "axes.grid.platform.iommu.mode: expected a non-empty list of values"),
            (f"base: {SMALL}\naxes: {{zip: {{a.b: [1, 2], c.d: [1]}}}}\n",
             "axes.zip: lists of different lengths (a.b has 2, c.d has 1)"),
            (f"base: {SMALL}\naxes: {{cartesian: {{a.b: [1]}}}}\n",
             "axes: unknown key 'cartesian' (expected grid or zip)"),
            (f"base: {SMALL}\naxes: {{grid: {{a.b: [1]}}, zip: {{a.b: [2]}}}}\n", "axes.zip.a.b: also in axes.grid"),
            (f"base: {SMALL}\nrepetitions: 0\n", "repetitions: expected an integer >= 1, got 0"),
            (f"base: {SMALL}\nset: {{sim.seed: 3}}\nseed: 2\n",
             "sim.seed: derived from seed: and repetitions:; do not set or sweep it"),
            (f"base: {SMALL}\nmetrics: [cpu..x]\n", "metrics: 'cpu..x' is not a dotted stats path"),
            (f"base: {SMALL}\naxes: {{grid: {{a.b: [[1, 2]]}}}}\n",
             "axes.grid.a.b: expected a scalar value, got list [1, 2]"),
            (f"base: {SMALL}\naxes: {{grid: {{a.b: [1, 1]}}}}\n",
             "axes: two points have the same overrides {'a.b': '1'} (a list repeats a value)"),
            ("base: [unclosed\n", "not valid YAML: while parsing a flow sequence"),
        ]
        for text, msg in cases:
            s = self.write(text)
            rc, _, err = sweep(s, "-o", os.path.join(self.tmp, "out"), "--dry-run")
            self.assertEqual(rc, 2, text)
            self.assertEqual(err.strip(), f"sweep: {s}: error: {msg}", text)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")), "a bad sweep file writes nothing")
        rc, _, err = sweep(os.path.join(self.tmp, "missing.yaml"))
        self.assertEqual(rc, 2)
        self.assertIn("error: cannot read: No such file or directory", err)
        rc, _, err = sweep(self.write(f"base: {SMALL}\n"), "--dry-run", env={"SWEEP_SIM": "/nonexistent/sim"})
        self.assertEqual(rc, 2)
        self.assertIn("the sim program /nonexistent/sim is missing", err)


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        SIM = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
