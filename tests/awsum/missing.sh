#!/usr/bin/env bash
# A path that does not exist: "awsum: PATH: No such file or directory" on stderr,
# every other argument still hashed (in order), exit 1 — in hash and --dupes mode.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
mkdir -p d/sub
echo one >a
echo two >d/x
echo three >d/sub/y
echo one >d/dup

manifest a d >"$T/expect"
aw a missing d
expect_rc 1 "awsum a missing d"
same "$T/expect" "$T/out" "the other arguments are still hashed"
has_line "$T/err" '^([^ :]*/)?awsum: .*missing.*: No such file or directory$' "stderr: 'awsum: missing: No such file or directory'"
stderr_lines_are_awsum "every stderr line is awsum's"
[ "$(grep -c 'missing' "$T/err")" -eq 1 ] && pass "the missing path is reported once" || fail "the missing path is reported $(grep -c missing "$T/err") times"

aw does-not-exist
expect_rc 1 "awsum does-not-exist"
empty "$T/out" "a lone missing path: nothing on stdout"
has_line "$T/err" 'does-not-exist.*No such file or directory' "a lone missing path: reported"

# Missing, with a name sha256sum would quote.
aw "no such file" a
expect_rc 1 "awsum 'no such file' a"
has_line "$T/err" 'no such file.*: No such file or directory$' "a missing name with spaces: reported"
sha256sum a >"$T/expect.a"
same "$T/expect.a" "$T/out" "a missing name with spaces: the other file hashed"

# A component of the path is a file.
aw a/b d
expect_rc 1 "awsum a/b (a is a file)"
has_line "$T/err" 'a/b.*: Not a directory$' "a/b: 'Not a directory'"
manifest d >"$T/expect.d"
same "$T/expect.d" "$T/out" "a/b: the other argument hashed"

# --dupes reports it too and still groups the rest.
aw --dupes a missing d
expect_rc 1 "--dupes a missing d"
printf 'a\nd/dup\n' >"$T/expect.dupes"
if cmp -s "$T/expect.dupes" "$T/out" || { cat "$T/expect.dupes"; echo; } | cmp -s - "$T/out"; then
  pass "--dupes: the other files still grouped"
else
  same "$T/expect.dupes" "$T/out" "--dupes: the other files still grouped"
fi
has_line "$T/err" 'missing.*: No such file or directory$' "--dupes: the missing path reported"
finish
