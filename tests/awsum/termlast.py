# tests/awsum/termlast.py — replays what a program wrote to a terminal (carriage
# returns, backspaces, ESC[K / ESC[2K erases, other escape sequences ignored)
# and prints the lines left visible at the end, one per line, blank ones as
# empty lines: what a user sees once the program is done.
import re
import sys

data = sys.stdin.buffer.read().decode("utf-8", "replace")
lines, cur, col = [], [], 0
i = 0
csi = re.compile(r"\x1b\[([0-9;?]*)([@-~])")
while i < len(data):
    c = data[i]
    if c == "\x1b":
        m = csi.match(data, i)
        if m:
            arg, op = m.group(1), m.group(2)
            if op == "K":
                if arg in ("", "0"):
                    del cur[col:]
                elif arg == "1":
                    cur[: col + 1] = [" "] * min(len(cur), col + 1)
                elif arg == "2":
                    cur = [" "] * len(cur)
            elif op == "G":  # cursor to column
                col = max(int(arg or "1") - 1, 0)
            i = m.end()
        else:
            i += 2
        continue
    if c == "\r":
        col = 0
    elif c == "\n":
        lines.append("".join(cur))
        cur, col = [], 0
    elif c == "\b":
        col = max(col - 1, 0)
    elif c >= " ":
        while len(cur) < col:
            cur.append(" ")
        if col < len(cur):
            cur[col] = c
        else:
            cur.append(c)
        col += 1
    i += 1
lines.append("".join(cur))
for line in lines:
    print(line.rstrip())
