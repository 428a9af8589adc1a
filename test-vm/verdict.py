#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""verdict.py - turn one VM run into a verdict, default-fail.

  verdict.py run DIR LABEL          judge DIR (console.log, results.ktap, vm.json from
                                    test-vm/run.sh), print the report, write DIR/verdict.json;
                                    exit 0 only if the run passed
  verdict.py expect-fail DIR LABEL REGEX
                                    harness self-test: exit 0 only if the run failed and one
                                    of its reasons matches REGEX
  verdict.py demo DIR LABEL         the demo's verdict: success code, clean console
  verdict.py summary JSON...        the closing line over several verdicts; exit 0 only if
                                    every one passed

A run passes only if all of these hold: QEMU exited with the guest's success code (the
isa-debug-exit device, written by /init after everything passed), the host timeout did not
fire, results.ktap holds a complete top-level KTAP plan whose results are all ok or skipped,
every test's own KTAP agrees, and the console holds no crash signature.
"""
import json
import os
import re
import sys

PASS_STATUS = (42 << 1) | 1  # /init's PASS_CODE through isa-debug-exit
FAIL_STATUS = (1 << 1) | 1  # /init's FAIL_CODE

CRASH_SIGNATURES = [
    "BUG:", "WARNING:", "Oops", "general protection fault", "kernel BUG at",
    "Unable to handle", "possible recursive locking", "circular locking dependency",
    "suspicious RCU usage", "UBSAN:", "KFENCE:", "soft lockup", "hung task",
    "Kernel panic", "invalid opcode:", "divide error:", "KASAN:", "kmemleak",
    "list_add corruption", "list_del corruption", "usercopy:", "stack-protector",
    "RCU detected stall", "rcu_sched self-detected stall", "Call Trace:",
]
CRASH_RE = re.compile("|".join(re.escape(s) for s in CRASH_SIGNATURES))
RESULT_RE = re.compile(r"^(not ok|ok) (\d+)(?: (.*?))?(?: # (SKIP|TODO)\b ?(.*))?$")
STARTED_RE = re.compile(r"^tloop-init: \[\d+/\d+\] (\S+) \(timeout \d+s\)")
ENDED_RE = re.compile(r"^tloop-init: \[\d+/\d+\] (\S+): .*\((\d+)s\)$")
PLAN_RE = re.compile(r"^1\.\.(\d+)(?:\s*#\s*SKIP\b\s*(.*))?")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.decode("utf-8", "replace").replace("\r", "").split("\n")


class Test:
    """One top-level KTAP result and the subtest output printed before it."""

    def __init__(self):
        self.sub = []  # the test's own output, de-indented
        self.diag = []  # top-level diagnostics that precede the result (the runner's)
        self.num = None
        self.name = ""
        self.ok = False
        self.skip = None


def parse_ktap(lines):
    """Return (plan or None, [Test], problems)."""
    problems = []
    plan = None
    tests = []
    cur = Test()
    seen_version = False
    for line in lines:
        if line.startswith("  "):
            cur.sub.append(line[2:])
            continue
        if not line.strip():
            continue
        if line.startswith("KTAP version") or line.startswith("TAP version"):
            seen_version = True
            continue
        m = PLAN_RE.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = RESULT_RE.match(line)
        if m:
            cur.ok = m.group(1) == "ok"
            cur.num = int(m.group(2))
            cur.name = m.group(3) or ""
            if m.group(4) == "SKIP":
                cur.skip = m.group(5) or "no reason given"
            tests.append(cur)
            cur = Test()
            continue
        if line.startswith("#"):
            cur.diag.append(line)
            continue
        problems.append(f"unexpected line in the results: {line[:120]!r}")
    if not seen_version:
        problems.append("no KTAP header on the results port")
    if cur.sub or cur.diag:
        # Output of a test that never got its result line: the VM stopped inside it.
        tests.append(cur)
    return plan, tests, problems


def sub_results(sub):
    """Count the test's own results: (passed, failed, [skip reasons], plan or None)."""
    passed = failed = 0
    skips = []
    plan = None
    for line in sub:
        m = PLAN_RE.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            if plan == 0:
                skips.append(m.group(2) or "no reason given")
            continue
        m = RESULT_RE.match(line)
        if not m:
            continue
        if m.group(1) == "not ok":
            failed += 1
        elif m.group(4) == "SKIP":
            skips.append(f"{m.group(3) or '#' + m.group(2)}: {m.group(5) or 'no reason given'}")
        else:
            passed += 1
    return passed, failed, skips, plan


def judge(run_dir, label):
    v = {"label": label, "dir": run_dir, "passed": 0, "failed": 0, "skipped": 0,
         "skips": [], "failures": [], "vm_problems": [],
         "console": os.path.join(run_dir, "console.log")}
    try:
        with open(os.path.join(run_dir, "vm.json")) as f:
            vm = json.load(f)
    except (OSError, ValueError) as e:
        vm = {}
        v["vm_problems"].append(f"no VM record ({e})")
    v["seconds"] = vm.get("seconds")
    v["release"] = vm.get("release", "?")
    status = vm.get("qemu_status")

    console = read_lines(os.path.join(run_dir, "console.log"))
    if console is None:
        v["vm_problems"].append("no console log")
        console = []
    crash = [i for i, l in enumerate(console) if CRASH_RE.search(l)]
    if crash:
        first = crash[0]
        sig = CRASH_RE.search(console[first]).group(0)
        v["vm_problems"].append(f"crash signature {sig!r} on the console "
                                f"(line {first + 1}: {console[first].strip()[:160]})")
        v["crash_excerpt"] = console[max(0, first - 3):first + 25]

    if vm.get("timed_out"):
        last = [l for l in console if l.startswith("tloop-init: [")]
        where = f"; last runner line: {last[-1].strip()}" if last else ""
        v["vm_problems"].append(f"host timeout: the VM ran longer than "
                                f"{vm.get('timeout')} s and was killed{where}")

    lines = read_lines(os.path.join(run_dir, "results.ktap"))
    if lines is None:
        lines = []
    plan, tests, problems = parse_ktap(lines)
    v["vm_problems"].extend(problems)
    if plan is None:
        v["vm_problems"].append("no top-level KTAP plan on the results port "
                                "(the guest never started the tests)")
    complete = [t for t in tests if t.num is not None]
    if plan is not None and len(complete) != plan:
        unfinished = [t for t in tests if t.num is None]
        where = ""
        if unfinished:
            where = " (output of an unfinished test follows the last result)"
        v["vm_problems"].append(f"incomplete results: planned {plan}, got "
                                f"{len(complete)}{where}")
    for i, t in enumerate(complete, 1):
        if t.num != i:
            v["vm_problems"].append(f"result numbered {t.num} where {i} was expected")
            break

    started = [m.group(1) for m in (STARTED_RE.match(l) for l in console) if m]
    times = [(int(m.group(2)), m.group(1)) for m in (ENDED_RE.match(l) for l in console) if m]
    v["slowest"] = [f"{n} {t}s" for t, n in sorted(times, reverse=True)[:5] if t >= 10]
    boot = [l for l in console if "Run /init as init process" in l]
    m = re.match(r"^\[\s*([0-9.]+)\]", boot[0]) if boot else None
    v["init_at"] = float(m.group(1)) if m else None
    for t in tests:
        name = t.name or (started[-1] if started else "(unfinished test)")
        p, f, skips, subplan = sub_results(t.sub)
        if t.num is None:
            v["failed"] += 1
            v["failures"].append({"name": name, "why": ["the VM stopped before it ended"],
                                  "output": t.sub})
            continue
        if t.skip is not None:
            v["skipped"] += 1
            v["skips"].append(f"{name}: {t.skip}")
            continue
        if t.ok and f == 0:
            if t.sub and subplan is None:
                v["failed"] += 1
                v["failures"].append({"name": name, "why": ["no plan, yet reported ok"],
                                      "output": t.sub})
                continue
            v["passed"] += p if t.sub else 1
            v["skipped"] += len(skips)
            v["skips"].extend(f"{name}: {s}" for s in skips)
            continue
        prefix = f"# tloop-run: {t.name}: "
        why = [d[len(prefix):].strip() for d in t.diag if d.startswith(prefix)]
        if t.ok:
            why.append("reported ok by the runner but its own output has not ok lines")
        v["passed"] += p
        v["skipped"] += len(skips)
        v["skips"].extend(f"{name}: {s}" for s in skips)
        v["failed"] += max(f, 1)
        v["failures"].append({"name": name, "why": why or ["not ok"], "output": t.sub})

    if status == PASS_STATUS:
        if v["failed"]:
            v["vm_problems"].append("the guest reported success but results failed")
    elif status == FAIL_STATUS:
        if not v["failed"]:
            v["vm_problems"].append("the guest reported failure but no result failed")
    elif not vm.get("timed_out") and status is not None:
        v["vm_problems"].append(f"no success code from the guest: QEMU exit status {status}"
                                + (" (poweroff, reboot or kernel panic)" if status == 0 else ""))
    if v["vm_problems"]:
        v["failed"] += 1
    v["pass"] = not v["failed"] and status == PASS_STATUS and not v["vm_problems"]
    return v


def report(v, out=sys.stdout):
    secs = f", VM {v['seconds']:.0f} s" if isinstance(v.get("seconds"), (int, float)) else ""
    print(f"=== {v['label']} ({v['release']}): {'PASS' if v['pass'] else 'FAIL'}: "
          f"{v['passed']} passed, {v['failed']} failed, {v['skipped']} skipped{secs}",
          file=out)
    counts = {}
    for s in v["skips"]:
        counts[s] = counts.get(s, 0) + 1
    for s, n in counts.items():
        print(f"  skipped{f' ({n}x)' if n > 1 else ''}: {s}", file=out)
    for fl in v["failures"]:
        print(f"  FAILED {fl['name']}: {'; '.join(fl['why'])}", file=out)
        output = fl["output"]
        if len(output) > 60:
            output = [l for l in output if l.lstrip().startswith(("#", "not ok"))][:60]
        for line in output:
            print(f"    | {line}", file=out)
    for p in v["vm_problems"]:
        print(f"  VM: {p}", file=out)
    if v.get("crash_excerpt"):
        print("  console around the first crash signature:", file=out)
        for line in v["crash_excerpt"]:
            print(f"    | {line}", file=out)
    if v.get("slowest"):
        print(f"  slowest tests: {', '.join(v['slowest'])}", file=out)
    if v.get("init_at") is not None:
        print(f"  kernel reached /init at {v['init_at']:.1f} s (guest clock)", file=out)
    print(f"  console log: {v['console']}", file=out)


def demo_verdict(run_dir, label):
    """The demo passes on the guest's success code with a clean console and no timeout."""
    try:
        with open(os.path.join(run_dir, "vm.json")) as f:
            vm = json.load(f)
    except (OSError, ValueError):
        vm = {}
    console = read_lines(os.path.join(run_dir, "console.log")) or []
    problems = []
    crash = [l for l in console if CRASH_RE.search(l)]
    if crash:
        problems.append(f"crash signature on the console: {crash[0].strip()[:160]}")
    if vm.get("timed_out"):
        problems.append(f"host timeout after {vm.get('timeout')} s")
    elif vm.get("qemu_status") != PASS_STATUS:
        problems.append(f"no success code from the guest (QEMU exit status "
                        f"{vm.get('qemu_status')})")
    for p in problems:
        print(f"make demo: {label}: FAIL: {p}")
    print(f"make demo: {label}: {'FAIL' if problems else 'PASS'}; console log: "
          f"{os.path.join(run_dir, 'console.log')}")
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 3 and argv[0] in ("run", "expect-fail"):
        v = judge(argv[1], argv[2])
        with open(os.path.join(argv[1], "verdict.json"), "w") as f:
            json.dump(v, f, indent=1)
        if argv[0] == "run" and len(argv) == 3:
            report(v)
            return 0 if v["pass"] else 1
        if argv[0] == "expect-fail" and len(argv) == 4:
            reasons = [p for p in v["vm_problems"]]
            for fl in v["failures"]:
                reasons.extend(f"{fl['name']}: {w}" for w in fl["why"])
            hit = [r for r in reasons if re.search(argv[3], r)]
            if not v["pass"] and hit:
                print(f"  self-test {v['label']}: failed as it must: {hit[0]}")
                return 0
            print(f"  self-test {v['label']}: NOT DETECTED (expected a failure matching "
                  f"/{argv[3]}/)")
            report(v)
            return 1
    if len(argv) == 3 and argv[0] == "demo":
        return demo_verdict(argv[1], argv[2])
    if len(argv) >= 1 and argv[0] == "summary":
        passed = failed = skipped = 0
        for path in argv[1:]:
            try:
                with open(path) as f:
                    v = json.load(f)
            except (OSError, ValueError):
                print(f"summary: no verdict in {path} (its build or run did not complete)")
                failed += 1
                continue
            passed += v["passed"]
            failed += v["failed"] + (0 if v["pass"] or v["failed"] else 1)
            skipped += v["skipped"]
        if not argv[1:]:
            failed += 1
        print(f"make test: {passed} passed, {failed} failed, {skipped} skipped")
        return 0 if failed == 0 else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
