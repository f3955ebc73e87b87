#!/usr/bin/env bash
# Symlinks. By default they are not followed (as find -P): a loop, a dangling link,
# links to files and to directories are all left out, silently, exit 0. With -L
# they are followed: a link to a file is hashed under the link's path, a link to
# an ancestor directory is a loop that is reported (not walked forever), a link
# to itself is reported ("Too many levels of symbolic links"), everything else is
# still hashed, exit 1.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

mkdir -p tree/a/sub tree/b
echo f1 >tree/a/f1
echo f2 >tree/a/sub/f2
echo f3 >tree/b/f3
ln -s ../.. tree/a/sub/up    # tree/a/sub/up -> tree: a loop under -L
ln -s ../a/f1 tree/b/lnk     # a link to a file
ln -s self tree/b/self       # a link to itself
ln -s nowhere tree/b/dangling

# Default: no symlink followed.
manifest tree >"$T/expect"
[ "$(wc -l <"$T/expect")" -eq 3 ] || fail "reference: expected 3 regular files"
aw tree
expect_rc 0 "awsum tree (symlinks not followed)"
same "$T/expect" "$T/out" "default: only the regular files, no symlink followed"
empty "$T/err" "default: nothing on stderr"

aw --dupes tree
expect_rc 0 "--dupes tree (symlinks not followed)"
empty "$T/out" "--dupes: a symlink is not a duplicate of its target"

# -L without the broken links: the loop is reported, the rest hashed.
rm tree/b/self tree/b/dangling
{
  sha256sum tree/a/f1 tree/a/sub/f2 tree/b/f3
  sha256sum tree/a/f1 | sed 's#tree/a/f1#tree/b/lnk#'
} | sort -k2 >"$T/expect.L"
aw -L tree
expect_rc 1 "awsum -L tree with a directory loop"
same "$T/expect.L" "$T/out" "-L: files and links to files hashed, the loop not walked"
has_line_both "$T/err" '^([^ :]*/)?awsum: .*tree/a/sub/up' '(loop|Too many levels)' "-L: the loop at tree/a/sub/up is reported"
stderr_lines_are_awsum "-L: every stderr line is awsum's"
[ "$(wc -l <"$T/err")" -le 2 ] && pass "-L: the loop is reported once, not once per lap" || fail "-L: $(wc -l <"$T/err") stderr lines"

# -L --dupes: a link and its target are one file, not duplicates (as jdupes -r -s).
aw -L --dupes tree
expect_rc 1 "awsum -L --dupes tree with a loop"
empty "$T/out" "-L --dupes: a link and its target are not duplicates"
if command -v jdupes >/dev/null; then
  jdupes -r -s tree >"$T/jdupes.out" 2>/dev/null
  empty "$T/jdupes.out" "(reference check: jdupes -r -s finds no duplicates either)"
fi

# -L with a link to itself (ELOOP on stat), in a tree without a directory loop:
# reported and exit 1, as find -L does ("Too many levels of symbolic links").
mkdir -p self/d
echo s1 >self/d/s1
echo s2 >self/s2
ln -s me self/d/me
ln -s nowhere self/d/dangling # a dangling link is skipped silently, as find -L does
manifest self >"$T/expect.self"
aw -L self
expect_rc 1 "awsum -L on a tree with a self-referencing link"
same "$T/expect.self" "$T/out" "-L, self link: the rest still hashed"
has_line_both "$T/err" '^([^ :]*/)?awsum: .*self/d/me' '(Too many levels of symbolic links|loop)' "-L: the self link is reported"
lacks_line "$T/err" 'dangling' "-L: the dangling link is not an error"
find -L self -type f >/dev/null 2>"$T/find.err"
has_line "$T/find.err" 'self/d/me.*Too many levels of symbolic links' "(reference check: find -L reports the self link)"
aw self
expect_rc 0 "awsum self (no -L): links not followed, nothing to report"
same "$T/expect.self" "$T/out" "no -L: the regular files hashed"
ln -s self tree/b/self

# A loop given as the argument itself.
aw -L tree/a/sub/up/a/sub
expect_rc 1 "awsum -L on a path through the loop"
has_line "$T/err" '(loop|Too many levels)' "-L through the loop: reported"
has_line "$T/out" ' tree/a/sub/up/a/sub/f2$' "-L through the loop: the files below the argument hashed"

# Without -L, a symlink argument to a file is not a directory walk: sha256sum
# would follow a named file, and so may awsum; it must not hang or crash.
aw tree/b/self
[ "$rc" -le 1 ] && pass "a self link as an argument: exit $rc, no crash" || fail "a self link as an argument: exit $rc"
finish
