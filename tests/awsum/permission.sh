#!/usr/bin/env bash
# Permission denied — an unreadable file, an unreadable directory, a directory
# that can be listed but not entered: each reported on stderr ("Permission
# denied", naming the path), everything readable still hashed, exit 1; in -c mode
# "FAILED open or read" with sha256sum's messages.
#
# Root reads everything, so as root awsum runs under setpriv without
# CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (then mode bits bind root too); the
# test is skipped only if that is impossible here.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

mkdir -p tree/ok/deep tree/closed tree/noexec
echo a >tree/ok/a
echo b >tree/ok/deep/b
echo c >tree/secret
echo d >tree/closed/hidden1
echo e >tree/noexec/hidden2
echo f >tree/z-last
manifest tree/ok tree/z-last >"$T/expect"
chmod 000 tree/secret tree/closed
chmod 600 tree/noexec

WRAP=()
if [ "$(id -u)" -eq 0 ]; then
  if command -v setpriv >/dev/null &&
    setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search true 2>/dev/null &&
    ! setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search cat tree/secret >/dev/null 2>&1; then
    WRAP=(setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search)
    echo "running as root: awsum and sha256sum run under '${WRAP[*]}' so that permissions apply"
  else
    skip "running as root and setpriv cannot drop CAP_DAC_OVERRIDE here: root reads everything, nothing to deny"
    finish
  fi
fi
AW_WRAP=("${WRAP[@]}")

aw tree
expect_rc 1 "awsum tree with unreadable parts"
same "$T/expect" "$T/out" "everything readable is hashed"
has_line "$T/err" '^([^ :]*/)?awsum: .*tree/secret.*: Permission denied$' "the unreadable file: 'awsum: ...tree/secret...: Permission denied'"
has_line "$T/err" '^([^ :]*/)?awsum: .*tree/closed.*: Permission denied$' "the unreadable directory: reported"
has_line "$T/err" '^([^ :]*/)?awsum: .*tree/noexec.*: Permission denied$' "the directory that cannot be entered: reported"
lacks_line "$T/out" 'hidden|secret' "nothing unreadable on stdout"
stderr_lines_are_awsum "every stderr line is awsum's"

# The unreadable file named directly, beside a readable one.
aw tree/secret tree/z-last
expect_rc 1 "awsum tree/secret tree/z-last"
sha256sum tree/z-last >"$T/expect.one"
same "$T/expect.one" "$T/out" "the readable argument is hashed"
has_line "$T/err" 'tree/secret.*: Permission denied$' "the unreadable argument is reported"

# --dupes: the unreadable file is reported, not grouped, and exit is 1.
cp tree/ok/a tree/ok/a-copy
aw --dupes tree
expect_rc 1 "--dupes with unreadable parts"
printf 'tree/ok/a\ntree/ok/a-copy\n' >"$T/expect.dupes"
if cmp -s "$T/expect.dupes" "$T/out" || { cat "$T/expect.dupes"; echo; } | cmp -s - "$T/out"; then
  pass "--dupes: the readable duplicates are grouped"
else
  same "$T/expect.dupes" "$T/out" "--dupes: the readable duplicates are grouped"
fi
has_line "$T/err" 'tree/secret.*: Permission denied$' "--dupes: the unreadable file is reported"
rm tree/ok/a-copy

# -c: an unreadable listed file, as sha256sum -c says it.
chmod 644 tree/secret
{
  sha256sum tree/ok/a tree/secret tree/z-last
} >"$T/m.sha256"
chmod 000 tree/secret
ref "${WRAP[@]}" sha256sum -c "$T/m.sha256"
aw -c "$T/m.sha256"
same "$T/ref.out" "$T/out" "-c: stdout as sha256sum's ('tree/secret: FAILED open or read')"
has_line "$T/out" '^tree/secret: FAILED open or read$' "-c: 'FAILED open or read'"
unprog "$T/ref.err" >"$T/ref.err.n"
unprog "$T/err" >"$T/err.n"
same "$T/ref.err.n" "$T/err.n" "-c: stderr as sha256sum's (program name aside)"
[ "$rc" -eq "$ref_rc" ] && [ "$rc" -eq 1 ] && pass "-c: exit 1, as sha256sum" || fail "-c: exit $rc, sha256sum's $ref_rc"
finish
