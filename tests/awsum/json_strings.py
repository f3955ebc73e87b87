# tests/awsum/json_strings.py — reads JSON on stdin (strict UTF-8, as the JSON
# standard requires) and writes every string in it, keys and values,
# NUL-terminated on stdout, so that shell tests can look paths and hashes up
# whatever the schema. Exits 1 if stdin is not JSON.
import json
import sys


def walk(v, out):
    if isinstance(v, str):
        out.append(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            out.append(k)
            walk(x, out)
    elif isinstance(v, list):
        for x in v:
            walk(x, out)


try:
    doc = json.loads(sys.stdin.buffer.read().decode("utf-8"))
except (ValueError, UnicodeDecodeError) as e:
    print(f"not JSON: {e}", file=sys.stderr)
    sys.exit(1)
strings = []
walk(doc, strings)
for s in strings:
    sys.stdout.buffer.write(s.encode("utf-8", "surrogateescape") + b"\0")
