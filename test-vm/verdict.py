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
  verdict.py power-boot DIR NAME N MAX
                                    test-vm/power.sh: how boot N of the power-cut test NAME
                                    (DIR/bootN) ended: prints "cut ..." (a cut the test asked
                                    for: boot again), "end ..." or "stop ..."
  verdict.py power DIR NAME         the verdict of the power-cut test NAME over all its boots
                                    (DIR/boot1, ...): report, DIR/verdict.json and
                                    DIR/results.ktap (every boot's results, one subtest each);
                                    exit 0 only if it passed

A run passes only if all of these hold: QEMU exited with the guest's success code (the
isa-debug-exit device, written by /init after everything passed), the host timeout did not
fire, results.ktap holds a complete top-level KTAP plan whose results are all ok or skipped,
every test's own KTAP agrees, and the console holds no crash signature. A run's verdict
includes the power-cut tests of its directory (DIR/power/<name>/, test-vm/power.sh).

A power-cut test passes only if every boot but the last ended in a cut that the test asked
for (the announcement "# tloop-power: cut requested" reached the results channel, then the
VM reset; no crash signature, no result after the announcement, every result before it ok),
the boots are numbered 1, 2, ... without a gap, the last boot ended as a normal test run
that passed, the last boot allowed was not spent on a cut, and the scratch disk image
existed before every boot.
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
CUT_RE = re.compile(r"^# tloop-power: cut requested at boot (\d+): (.*)$")
NOCUT_RE = re.compile(r"^# tloop-power: cut impossible")


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


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def power_boot(pdir, name, n, max_boots):
    """How boot n of power-cut test `name` ended: a dict with kind ("cut", "end", "stop"),
    problems, the test's output (sub), its results, the cut's reason and the seconds."""
    bdir = os.path.join(pdir, f"boot{n}")
    b = {"n": n, "kind": "stop", "problems": [], "sub": [], "passed": 0, "failed": 0,
         "skips": [], "why": None, "seconds": None, "dir": bdir}
    vm = read_json(os.path.join(bdir, "vm.json"))
    if vm is None:
        b["problems"].append(f"boot {n}: no VM record (QEMU did not run)")
        return b
    b["seconds"] = vm.get("seconds")
    status = vm.get("qemu_status")
    console = read_lines(os.path.join(bdir, "console.log")) or []
    crash = [l for l in console if CRASH_RE.search(l)]
    if crash:
        b["problems"].append(f"boot {n}: crash signature {CRASH_RE.search(crash[0]).group(0)!r}"
                             f" on the console ({crash[0].strip()[:160]})")
    if vm.get("timed_out"):
        b["problems"].append(f"boot {n}: host timeout after {vm.get('timeout')} s")
    lines = read_lines(os.path.join(bdir, "results.ktap")) or []
    plan, tests, problems = parse_ktap(lines)
    mine = [t for t in tests if t.name == name or (t.num is None and t.sub)]
    reached = any(m and m.group(1) == name for m in (STARTED_RE.match(l) for l in console))
    if not reached or not mine:
        why = [f"{t.name}: {d}" for t in tests if not t.ok for d in t.diag] or problems
        b["problems"].append(f"boot {n} never reached the test"
                             + (f" ({'; '.join(why)[:300]})" if why else "")
                             + (f"; QEMU exit status {status}" if status is not None else ""))
        return b
    t = mine[0]
    b["sub"] = t.sub
    cut_at = None
    for i, line in enumerate(t.sub):
        m = CUT_RE.match(line)
        if m:
            cut_at = i
            b["why"] = m.group(2)
            if int(m.group(1)) != n:
                b["problems"].append(f"boot {n}: the cut announcement names boot {m.group(1)}")
            break
        if NOCUT_RE.match(line):
            b["problems"].append(f"boot {n}: {line[2:].strip()}")
    if cut_at is None:
        if vm.get("timed_out"):
            last = [l for l in console if l.startswith("tloop-init: [")]
            if last:
                b["problems"].append(f"boot {n}: last runner line: {last[-1].strip()}")
            return b
        if status in (PASS_STATUS, FAIL_STATUS):
            b["kind"] = "end"
            return b
        b["problems"].append(f"boot {n}: the VM reset (reboot, power-off or panic; QEMU exit "
                             f"status {status}) without a cut requested by the test")
        return b
    before = t.sub[:cut_at]
    b["passed"], b["failed"], b["skips"], _ = sub_results(before)
    if b["failed"]:
        b["problems"].append(f"boot {n}: {b['failed']} not ok before the cut")
    after = [l for l in t.sub[cut_at + 1:] if RESULT_RE.match(l) or NOCUT_RE.match(l)]
    if after:
        b["problems"].append(f"boot {n}: output after the cut announcement: {after[0][:120]!r}")
    if t.num is not None or status != 0:
        b["problems"].append(f"boot {n}: a cut was requested but the VM did not reset "
                             f"(QEMU exit status {status})")
    if n >= max_boots:
        b["problems"].append(f"boot {n}: a cut was requested at the last boot allowed "
                             f"(tloop-power: boots={max_boots})")
    if not b["problems"]:
        b["kind"] = "cut"
    return b


def judge_power(pdir, name):
    """The verdict of power-cut test `name` over its boots in pdir."""
    v = {"label": name, "dir": pdir, "passed": 0, "failed": 0, "skipped": 0, "skips": [],
         "failures": [], "vm_problems": [], "boots": 0, "cuts": [], "release": "?",
         "console": os.path.join(pdir, "boot*", "console.log")}
    listed = {}
    for line in (read_text(os.path.join(pdir, "..", ".power")) or "").splitlines():
        f = line.split()
        if len(f) == 3:
            listed[f[0]] = int(f[1])
    max_boots = listed.get(name)
    if max_boots is None:
        v["vm_problems"].append(f"{name} is not in the list of power-cut tests")
        max_boots = 0
    host = read_text(os.path.join(pdir, "host-problem"))
    n = 0
    boots = []
    ktap = ["KTAP version 1", f"# power-cut test {name}", None]
    while os.path.isdir(os.path.join(pdir, f"boot{n + 1}")):
        n += 1
        b = power_boot(pdir, name, n, max_boots)
        boots.append(b)
        label = f"{name} boot {n}"
        ktap.extend("  " + l for l in b["sub"])
        vm = read_json(os.path.join(b["dir"], "vm.json")) or {}
        v["release"] = vm.get("release", v["release"])
        if b["kind"] == "cut":
            v["cuts"].append(f"boot {n}: {b['why']}")
            v["passed"] += b["passed"]
            v["skipped"] += len(b["skips"])
            v["skips"].extend(f"{label}: {s}" for s in b["skips"])
            ktap.append(f"ok {n} {label} # cut: {b['why']}")
            continue
        if b["kind"] == "end":
            bv = judge(b["dir"], label, power=False)
            v["passed"] += bv["passed"]
            v["skipped"] += bv["skipped"]
            v["skips"].extend(bv["skips"])
            for fl in bv["failures"]:
                fl["name"] = f"{label}: {fl['name']}"
                v["failures"].append(fl)
            v["failed"] += bv["failed"]
            if bv["vm_problems"]:
                v["failures"].append({"name": label, "why": bv["vm_problems"], "output": []})
            if not bv["pass"] and not bv["failed"]:
                v["failed"] += 1
            ktap.append(f"{'ok' if bv['pass'] else 'not ok'} {n} {label}")
            break
        # stop: something went wrong in this boot.
        v["failed"] += max(b["failed"], 1)
        v["passed"] += b["passed"]
        v["failures"].append({"name": label, "why": b["problems"], "output": b["sub"]})
        ktap.append(f"not ok {n} {label}")
        break
    v["boots"] = n
    if host:
        v["vm_problems"].append(host)
    if n == 0 and not host:
        v["vm_problems"].append("no boot ran")
    elif boots and boots[-1]["kind"] == "cut":
        if not host:
            v["vm_problems"].append(f"the test asked for a cut at boot {n} and no boot "
                                    f"followed it")
    secs = [b["seconds"] for b in boots if isinstance(b["seconds"], (int, float))]
    v["seconds"] = sum(secs)
    wall = read_text(os.path.join(pdir, "seconds"))
    v["wall"] = int(wall) if wall and wall.isdigit() else None
    kept = read_text(os.path.join(pdir, "disk-kept"))
    if kept:
        v["disk_kept"] = kept
    if v["vm_problems"]:
        v["failed"] += 1
    v["pass"] = not v["failed"] and not v["vm_problems"] and bool(boots) and \
        boots[-1]["kind"] == "end"
    ktap[2] = f"1..{len(boots)}"
    try:
        with open(os.path.join(pdir, "results.ktap"), "w") as f:
            f.write("\n".join(ktap) + "\n")
    except OSError:
        pass
    return v


def power_cost(pv):
    return (f"{pv['label']}: {pv['boots']} boots, {pv['seconds']:.0f} s in VMs"
            + (f" ({pv['wall']} s wall)" if pv.get("wall") is not None else "")
            + f", {len(pv['cuts'])} cut{'' if len(pv['cuts']) == 1 else 's'}")


def judge(run_dir, label, power=True):
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
    if power:
        merge_power(v, run_dir)
    return v


def merge_power(v, run_dir):
    """Add the power-cut tests of run_dir/power (test-vm/power.sh) to the run's verdict."""
    pdir = os.path.join(run_dir, "power")
    listed = []
    for line in (read_text(os.path.join(pdir, ".power")) or "").splitlines():
        if line.split():
            listed.append(line.split()[0])
    v["power"] = []
    for name in listed:
        pv = judge_power(os.path.join(pdir, name), name)
        v["power"].append(power_cost(pv))
        v["passed"] += pv["passed"]
        v["skipped"] += pv["skipped"]
        v["skips"].extend(pv["skips"])
        v["failures"].extend(pv["failures"])
        v["failed"] += pv["failed"]
        if pv["vm_problems"]:
            v["failures"].append({"name": name, "why": pv["vm_problems"], "output": []})
        if pv.get("disk_kept"):
            v["failures"].append({"name": name, "why": [f"scratch disk image kept: "
                                                        f"{pv['disk_kept']}"], "output": []})
        if not pv["pass"]:
            v["pass"] = False
            if not pv["failed"]:
                v["failed"] += 1


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
    for p in v.get("power", []):
        print(f"  power-cut test {p}", file=out)
    for c in v.get("cuts", []):
        print(f"  cut at {c}", file=out)
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
        if argv[0] == "expect-fail" and os.path.isfile(os.path.join(argv[1], "seconds")):
            v = judge_power(argv[1], argv[2])  # a power-cut case of the harness self-test
        else:
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
    if len(argv) == 5 and argv[0] == "power-boot":
        b = power_boot(argv[1], argv[2], int(argv[3]), int(argv[4]))
        secs = f" ({b['seconds']:.0f} s)" if isinstance(b["seconds"], (int, float)) else ""
        if b["kind"] == "cut":
            print(f"cut requested: {b['why']}{secs}")
        elif b["kind"] == "end":
            print(f"end of the test{secs}")
        else:
            print(f"stop: {'; '.join(b['problems'])}{secs}")
        return 0 if b["kind"] == "cut" else 1
    if len(argv) == 3 and argv[0] == "power":
        v = judge_power(argv[1], argv[2])
        with open(os.path.join(argv[1], "verdict.json"), "w") as f:
            json.dump(v, f, indent=1)
        report(v)
        print(f"  {power_cost(v)}")
        return 0 if v["pass"] else 1
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
