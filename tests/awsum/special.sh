#!/usr/bin/env bash
# FIFOs, unix sockets and devices are skipped without being opened: a FIFO opened
# for reading blocks until a writer comes, a character device like /dev/zero never
# ends, so a run that finishes within the timeout proves they were not read.
#
# Found while walking a directory, a special file is not an error: it is left
# out of the output, listed on stderr with --verbose, and the exit status is
# that of the rest (0 here). Named as an argument, it is reported on stderr
# (naming it) and the exit status is 1, the other arguments still hashed.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1

mkdir -p tree/a tree/b
echo one >tree/a/one
echo two >tree/b/two
echo three >tree/z
mkfifo tree/a/fifo || { fail "mkfifo failed"; finish; }
"$MKSOCK" tree/b/sock || { fail "awsum-mksock failed"; finish; }
specials=(tree/a/fifo tree/b/sock)
if mknod tree/b/zero c 1 5 2>/dev/null; then
  specials+=(tree/b/zero)
  echo "a character device (like /dev/zero) in the tree: tree/b/zero"
else
  skip "mknod is not allowed here: no device node inside the tree (the /dev/zero argument below still covers devices)"
fi
[ -p tree/a/fifo ] && [ -S tree/b/sock ] || fail "the special files were not created"
manifest tree >"$T/expect"

aw tree
expect_rc 0 "awsum tree with special files inside (not an error)"
same "$T/expect" "$T/out" "the regular files are hashed, the special files left out"
stderr_lines_are_awsum "stderr lines, if any, are awsum's"

aw --verbose tree
expect_rc 0 "awsum --verbose tree"
same "$T/expect" "$T/out" "--verbose: the same output"
for s in "${specials[@]}"; do
  has_line "$T/err" "^([^ :]*/)?awsum: .*$s" "--verbose lists the skipped $s"
done

aw --dupes tree
expect_rc 0 "--dupes with special files"
empty "$T/out" "--dupes: no duplicates among the regular files"

# Named as arguments: reported, the rest hashed, exit 1.
for s in tree/a/fifo tree/b/sock /dev/zero /dev/null; do
  aw tree/a/one "$s" tree/z
  expect_rc 1 "awsum tree/a/one $s tree/z"
  manifest tree/a/one tree/z >"$T/expect.args"
  same "$T/expect.args" "$T/out" "$s as an argument: skipped, the other arguments hashed"
  has_line "$T/err" "^([^ :]*/)?awsum: .*$s" "$s as an argument: reported on stderr"
done

# -L: symlinks to a FIFO and to /dev/zero are followed to special files and skipped.
mkdir -p links
echo four >links/four
ln -s ../tree/a/fifo links/to-fifo
ln -s /dev/zero links/to-zero
manifest links >"$T/expect.links"
aw -L links
expect_rc 0 "awsum -L links (symlinks to a FIFO and /dev/zero)"
same "$T/expect.links" "$T/out" "-L: the special files behind symlinks are skipped"

# -c on a manifest that lists a FIFO: sha256sum would block on it; awsum must not.
h=$(sha256sum tree/a/one | cut -c1-64)
printf '%s  tree/a/one\n%s  tree/a/fifo\n' "$h" "$h" >"$T/m.sha256"
aw -c "$T/m.sha256"
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] && pass "-c listing a FIFO does not hang" || true
has_line "$T/out" '^tree/a/one: OK$' "-c: the regular file is OK"
lacks_line "$T/out" '^tree/a/fifo: OK$' "-c: the FIFO is not OK"
expect_rc 1 "-c listing a FIFO (a listed file that cannot be read)"
finish
