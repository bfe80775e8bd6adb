#!/usr/bin/env python3
"""Keeps the persistent target dir from growing without end: every build of a test or binary with new
dependency hashes leaves a 100-600 MB executable behind in deps/. Of each executable name this keeps the two
newest (a binary and its unit-test harness share a name; cargo rebuilds anything it finds missing, so a wrong guess costs a rebuild, never a wrong result)."""
import collections
import os
import re
import sys

for d in sys.argv[1:]:
    if not os.path.isdir(d):
        continue
    groups = collections.defaultdict(list)
    for f in os.listdir(d):
        m = re.fullmatch(r"([a-z_0-9-]+)-([0-9a-f]{16})", f)
        p = os.path.join(d, f)
        if m and os.path.isfile(p):
            groups[m.group(1)].append(p)
    freed = 0
    for files in groups.values():
        files.sort(key=os.path.getmtime, reverse=True)
        for p in files[2:]:
            freed += os.path.getsize(p)
            os.remove(p)
            if os.path.exists(p + ".d"):
                os.remove(p + ".d")
    print(f"prune: {d}: {freed // 2**20} MB of old executables removed")
