#!/usr/bin/env python3
"""Runs json_sample and checks python3's json module reads back every value it wrote."""
import json
import subprocess
import sys

out = subprocess.run([sys.argv[1]], check=True, capture_output=True).stdout
v = json.loads(out.decode("utf-8"))  # strict: raw control characters would be an error
expect = {
    "controls": "".join(chr(c) for c in range(0x20)),
    'quote"and\\backslash': '"\\/',
    "utf8": "h\u00e9llo \u20ac \U0001F600",
    "u64_max": 2**64 - 1,
    "i64_min": -(2**63),
    "doubles": [0.1, 1.0 / 3, 1e-300, 1.7976931348623157e308, -2.5e-7, 123456789.125],
    "fixed": 3.14,
    "nan": None,
    "inf": None,
    "nested": {"a": [{}, False]},
}
if v != expect:
    for k in expect:
        if v.get(k) != expect[k]:
            print("json_roundtrip: %r: got %r, want %r" % (k, v.get(k), expect[k]))
    sys.exit(1)
print("json_roundtrip: ok,", len(out), "bytes")
