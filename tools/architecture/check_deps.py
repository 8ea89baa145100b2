#!/usr/bin/env python3
"""architecture_deps: checks every #include of the tree against the part table.

usage: check_deps.py ROOT

The rules are read from ROOT/docs/architecture.md, so the document and the check cannot drift
apart: the fenced block tagged `deps` lists each part and the parts it may use (a part may also
use what those use, transitively), and may give a test folder `tests/<part>` a rule of its own
(the parts its tests also drive, e.g. a client); the block tagged `external` lists, for a system
header, the only parts that may include it. Files belong to parts by folder:

  include/buddy/<part>/...   src/<part>/...   tests/<part>/...   the part itself
  apps/ tools/ bench/ fuzz/  (and tests/apps/, tests/bench/, tests/tools/)  those top parts

A file violates the architecture when it includes
  - a header of a part its part may not use,
  - another part's detail/ folder, or names another part's detail:: namespace,
  - a system header its part may not use,
  - a buddy header of no known part.
Each violation is one line naming the file, the line and the include; the exit status is 1 if
there is any, 0 otherwise, 2 on bad usage or a broken table.
"""

import os
import re
import sys

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc")
TOP_PARTS = ("apps", "tools", "bench", "fuzz")
# Folders under tests/ that test a top part instead of a library part.
TEST_TOP = {"apps": "apps", "bench": "bench", "tools": "tools"}
# Folders that are not code of the project (test fixtures of this very check, build trees).
SKIP_DIRS = ("tests/architecture/fixture", "build")

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
DETAIL_NS_RE = re.compile(r"\b((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)::detail::")


def fail_usage(msg):
    print("check_deps: " + msg, file=sys.stderr)
    sys.exit(2)


def fenced_block(text, tag):
    m = re.search(r"^```" + tag + r"[ \t]*\n(.*?)^```", text, re.S | re.M)
    return m.group(1) if m else None


def read_rules(root):
    path = os.path.join(root, "docs", "architecture.md")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail_usage("cannot read %s: %s" % (path, e.strerror))
    block = fenced_block(text, "deps")
    if block is None:
        fail_usage("%s has no ```deps block" % path)
    deps, namespaces = {}, {}
    for n, line in enumerate(block.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        # part [namespace] : dep dep ...
        m = re.match(r"^([a-z_/]+)\s*(?:\[([a-z_:]+)\])?\s*:\s*(.*)$", line)
        if not m:
            fail_usage("deps block line %d: expected 'part [namespace]: deps...'" % n)
        part, ns, rest = m.group(1), m.group(2), m.group(3).split()
        if part in deps:
            fail_usage("deps block: part %s listed twice" % part)
        deps[part] = [d for d in rest if d != "-"]
        if ns:
            namespaces[ns] = part
    for part, ds in deps.items():
        for d in ds:
            if d not in deps:
                fail_usage("deps block: %s uses unknown part %s" % (part, d))
    external = {}
    block = fenced_block(text, "external")
    for line in (block or "").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        header, _, parts = line.partition(":")
        external[header.strip()] = set(parts.split())
    return deps, namespaces, external


def closure(deps):
    out = {}
    for part in deps:
        seen, todo = set(), list(deps[part])
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(deps[d])
        out[part] = seen
    return out


def longest_part(path, parts):
    best = None
    for p in parts:
        if path == p or path.startswith(p + "/"):
            if best is None or len(p) > len(best):
                best = p
    return best


def part_of_file(rel, parts):
    segs = rel.split("/")
    if segs[0] in TOP_PARTS:
        return segs[0]
    if segs[0] == "include" and len(segs) > 2 and segs[1] == "buddy":
        return longest_part("/".join(segs[2:]), parts)
    if segs[0] == "src":
        return longest_part("/".join(segs[1:]), parts)
    if segs[0] == "tests" and len(segs) > 1:
        if segs[1] in TEST_TOP:
            return TEST_TOP[segs[1]]
        if segs[1] == "common":
            return "tests/common"
        return longest_part("/".join(segs[1:]), parts)
    return None


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)


def source_files(root):
    for top in ("include", "src", "tests", "tools", "apps", "bench", "fuzz"):
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            if any(rel_dir == s or rel_dir.startswith(s + "/") for s in SKIP_DIRS):
                dirnames[:] = []
                continue
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_SUFFIXES):
                    yield rel_dir + "/" + name


def main():
    if len(sys.argv) != 2:
        fail_usage("usage: check_deps.py ROOT")
    root = sys.argv[1]
    deps, namespaces, external = read_rules(root)
    allowed = closure(deps)
    parts = [p for p in deps if p not in TOP_PARTS and not p.startswith("tests/")]
    violations, files, includes = [], 0, 0

    def report(rel, line, what):
        violations.append("%s:%d: %s" % (rel, line, what))

    for rel in source_files(root):
        part = part_of_file(rel, parts)
        if part is None:
            report(rel, 1, "belongs to no part of docs/architecture.md")
            continue
        files += 1
        test_common = part == "tests/common"
        # A test folder may have a rule of its own (tests/<part>: what its tests also drive).
        rule = part
        if rel.startswith("tests/" + part + "/") and "tests/" + part in deps:
            rule = "tests/" + part
        may_use = allowed.get(rule, set()) | ({part} if rule != part else set())
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            text = f.read()
        for n, line in enumerate(text.splitlines(), 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            includes += 1
            kind, inc = m.group(1), m.group(2)
            if kind == "<":
                if inc in external and part not in external[inc] and not test_common:
                    report(rel, n, "includes <%s>: only %s may" % (
                        inc, ", ".join(sorted(external[inc]))))
                continue
            if not inc.startswith("buddy/"):
                continue  # a header of the same folder or of tools/common, bench/kv, tests/common
            inc_path = inc[len("buddy/"):]
            target = longest_part(inc_path.rsplit("/", 1)[0], parts)
            if target is None:
                report(rel, n, 'includes "%s", a header of no part' % inc)
                continue
            if test_common:
                continue
            if target != part and target not in may_use:
                ok = sorted(may_use - {part}) or ["nothing"]
                report(rel, n, 'includes "%s": %s may not use %s (it may use %s)' % (
                    inc, rule, target, ", ".join(ok)))
            elif target != part and inc_path[len(target) + 1:].startswith("detail/"):
                report(rel, n, 'includes "%s": the detail/ of %s is private to it' % (
                    inc, target))
        body = strip_comments(text)
        for n, line in enumerate(body.splitlines(), 1):
            for m in DETAIL_NS_RE.finditer(line):
                ns = m.group(1)
                if ns.startswith("buddy::"):
                    ns = ns[len("buddy::"):]
                owner = namespaces.get(ns)
                if owner is not None and owner != part and not test_common:
                    report(rel, n, "names %s::detail, private to %s" % (ns, owner))

    for v in sorted(violations):
        print("architecture_deps: " + v)
    print("architecture_deps: %d files, %d includes, %d violations" % (
        files, includes, len(violations)))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
