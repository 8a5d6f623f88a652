#!/usr/bin/python3
"""tools/sweep --backend slurm on a real single-node Slurm cluster started on localhost.

Starts munged, slurmctld and slurmd (Debian's packages: munge, slurmctld, slurmd, slurm-client)
with their configuration, key, sockets, state and logs in a temporary folder and ports not in
use, waits until sinfo shows the node idle, runs a small sweep (a few runs of
tests/sim/configs/small_4k.yaml) through a job array and an aggregation job, and checks that its
results.csv equals the local backend's for the same sweep. Stops the daemons at the end.

Where the cluster cannot be started (a daemon missing, not root, a daemon that dies or a node
that never becomes idle) it prints why and exits 77, which ctest reports as skipped.
    tests/tools/sweep_slurm_test.py [SIM]
"""
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWEEP = os.path.join(ROOT, "tools", "sweep")
SKIP = 77


class Skip(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.env = dict(os.environ, SLURM_CONF=os.path.join(tmp, "slurm.conf"))

    def log_tail(self, name):
        try:
            with open(os.path.join(self.tmp, name)) as f:
                return "".join(f.readlines()[-5:]).strip()
        except OSError:
            return "(no log)"

    def start(self):
        for exe in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue"):
            if not shutil.which(exe) and not os.path.exists(f"/usr/sbin/{exe}"):
                raise Skip(f"{exe} not installed (Debian: apt-get install munge slurmctld slurmd slurm-client)")
        if os.geteuid() != 0:
            raise Skip("not root: slurmd must run as root to start jobs, and SlurmUser=root")
        t = self.tmp
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(os.path.join(t, d), mode=0o700, exist_ok=True)
        os.chmod(t, 0o755)
        key = os.path.join(t, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        sock = os.path.join(t, "munge", "munge.sock")
        munged = shutil.which("munged") or "/usr/sbin/munged"
        p = subprocess.run([munged, "--force", f"--socket={sock}", f"--key-file={key}",
                            f"--pid-file={t}/munge/munged.pid", f"--log-file={t}/log/munged.log",
                            f"--seed-file={t}/munge/munged.seed"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise Skip(f"munged did not start: {p.stdout.strip()}")
        self.munge_pid = os.path.join(t, "munge", "munged.pid")
        host = socket.gethostname().split(".")[0]
        cpus = os.cpu_count() or 1
        conf = f"""ClusterName=sweeptest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
StateSaveLocation={t}/state
SlurmdSpoolDir={t}/spool/slurmd-%n
SlurmctldPidFile={t}/slurmctld.pid
SlurmdPidFile={t}/slurmd.pid
SlurmctldLogFile={t}/log/slurmctld.log
SlurmdLogFile={t}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SwitchType=switch/none
SchedulerType=sched/backfill
MaxArraySize=1001
InactiveLimit=0
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.env["SLURM_CONF"], "w") as f:
            f.write(conf)
        self.host = host
        for exe in ("slurmctld", "slurmd"):
            path = shutil.which(exe) or f"/usr/sbin/{exe}"
            args = [path, "-D", "-f", self.env["SLURM_CONF"]] + (["-i"] if exe == "slurmctld" else [])
            out = open(os.path.join(t, "log", f"{exe}.stdout"), "w")
            self.procs.append((exe, subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                     start_new_session=True)))
            time.sleep(1)
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            for exe, pr in self.procs:
                if pr.poll() is not None:
                    raise Skip(f"{exe} exited with status {pr.returncode}: {self.log_tail('log/' + exe + '.log')}")
            p = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=self.env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            state = p.stdout.strip()
            if p.returncode == 0 and state == "idle":
                return
            time.sleep(1)
        raise Skip(f"the node did not become idle within 60 s (sinfo: {state!r}); "
                   f"slurmd log: {self.log_tail('log/slurmd.log')}")

    def stop(self):
        for exe, pr in reversed(self.procs):
            if pr.poll() is None:
                pr.send_signal(signal.SIGTERM)
                try:
                    pr.wait(15)
                except subprocess.TimeoutExpired:
                    pr.kill()
                    pr.wait()
        try:
            with open(self.munge_pid) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        except (OSError, ValueError, AttributeError):
            pass


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def main():
    sim = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "bin", "sim")
    tmp = tempfile.mkdtemp(prefix="sweep-slurm-")
    cluster = Cluster(tmp)
    try:
        try:
            cluster.start()
        except Skip as e:
            print(f"SKIPPED: cannot start a Slurm cluster on localhost: {e}")
            return SKIP
        print(f"cluster up: node {cluster.host} idle ({tmp})")
        sweep_file = os.path.join(tmp, "s.yaml")
        with open(sweep_file, "w") as f:
            f.write(f"""base: {ROOT}/tests/sim/configs/small_4k.yaml
duration: 300us
set:
  sim.warmup: 100us
axes:
  grid:
    platform.iommu.mode: [strict, lazy, bogus]
    workloads.randread.iodepth: [2, 8]
repetitions: 2
""")
        # 12 runs: 6 points x 2 repetitions, the 4 with mode bogus fail (sim exits 2);
        # 5 per array task -> 3 tasks, the last with 2 rows
        slurm_out = os.path.join(tmp, "slurm-out")
        env = dict(cluster.env, SWEEP_SIM=sim)
        t0 = time.monotonic()
        p = subprocess.run(["/usr/bin/python3", SWEEP, sweep_file, "-o", slurm_out, "--backend", "slurm",
                            "--per-task", "5", "-j", "2"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        print(p.stdout)
        print(f"slurm sweep: exit {p.returncode} in {time.monotonic() - t0:.1f} s")
        fail = []
        if p.returncode != 1:
            fail.append(f"slurm backend exited {p.returncode}, expected 1 (some runs failed)")
        tasks = sorted(x for x in os.listdir(os.path.join(slurm_out, "slurm")) if x.startswith("task-"))
        if tasks != ["task-0.out", "task-1.out", "task-2.out"]:
            fail.append(f"expected 3 array tasks' logs, found {tasks}")
        if not os.path.exists(os.path.join(slurm_out, "slurm", "aggregate.out")):
            fail.append("no aggregation job log: results.csv was not written by the Slurm aggregation job")
        local_out = os.path.join(tmp, "local-out")
        p2 = subprocess.run(["/usr/bin/python3", SWEEP, sweep_file, "-o", local_out, "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if p2.returncode != 1:
            fail.append(f"local backend exited {p2.returncode}: {p2.stdout}")
        a = read_csv(os.path.join(slurm_out, "results.csv"))
        b = read_csv(os.path.join(local_out, "results.csv"))
        want = [("failed" if r["platform.iommu.mode"] == "bogus" else "ok") for r in a]
        if len(a) != 12 or [r["status"] for r in a] != want or want.count("ok") != 8 or not all(
                "platform.iommu.mode" in r["error"] for r in a if r["status"] == "failed"):
            fail.append(f"slurm results: expected 8 ok and 4 failed rows naming the key, got "
                        f"{[(r['run_id'], r['status'], r['error']) for r in a]}")
        if a != b:
            diff = [(x, y) for x, y in zip(a, b) if x != y][:2]
            fail.append(f"slurm and local results.csv differ ({len(a)} vs {len(b)} rows): {diff}")
        # a resubmission runs only what failed (4 array tasks of one row), then aggregates
        p3 = subprocess.run(["/usr/bin/python3", SWEEP, sweep_file, "-o", slurm_out, "--backend", "slurm"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        if p3.returncode != 1 or "4 runs in 4 tasks (8 already done)" not in p3.stdout:
            fail.append(f"resubmission should run the 4 failed runs only: exit {p3.returncode}: {p3.stdout}")
        if read_csv(os.path.join(slurm_out, "results.csv")) != a:
            fail.append("resubmission changed results.csv")
        if fail:
            print("FAILED:\n  " + "\n  ".join(fail))
            return 1
        print(f"OK: {len(a)} rows (8 ok, 4 failed), slurm results.csv == local results.csv")
        return 0
    finally:
        cluster.stop()
        if os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
