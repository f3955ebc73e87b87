/*
 * tools/awsum/mksample.c — awsum-mksample: a deterministic sample tree for awsum's
 * demo and tests.
 *
 *   awsum-mksample DIR [--files N] [--seed S] [--awkward]
 *
 * Creates DIR (and its parents) if needed, then N regular files (default 300) in
 * nested directories under it. Everything — names, sizes, contents — comes from
 * one PRNG (splitmix64) started from the seed, so the same arguments give the
 * same tree byte for byte on every run and every machine. Nothing depends on the
 * clock, the locale, the environment or what DIR already holds (files that exist
 * are truncated and rewritten).
 *
 * What the tree holds, so that each of awsum's paths is exercised:
 *   - sizes at the edges first: 0, 1, the SHA-256 padding edges (55, 56, 63, 64,
 *     65), page and 64 KiB edges, 1 MiB +-1 (a likely chunk size), then a mix:
 *     empty, tiny, a few KiB, tens to hundreds of KiB, and a few files of 1-4 MiB;
 *     the total stays under 30 MiB whatever N is;
 *   - exact duplicates, several groups, some of three or more, across directories;
 *   - near-duplicates: the same size and the same bytes as another file except
 *     the last byte;
 *   - names whose byte order differs from a per-directory walk's order
 *     ("data" / "data-old" / "data.txt"), mixed case, a dot file, a dot
 *     directory and an empty directory;
 *   - with --awkward, also names with a space, a newline, a carriage return, a
 *     backslash, bytes that are not UTF-8, a leading dash, and a directory whose
 *     name has a newline. These files are in addition to the N, each with
 *     content of its own (never a duplicate).
 *
 * Prints one summary line on stdout. Exit 0 on success, 1 if the tree cannot be
 * created (the cause on stderr), 2 on bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FILES 100000
#define BUDGET (30u << 20)   /* total bytes of the tree, whatever N is */
#define LARGE_MIN (1u << 20) /* "a few MiB" files: 1-4 MiB */
#define LARGE_SPAN (3u << 20)
#define MEDIUM_MIN (16u << 10) /* 16-256 KiB */
#define MEDIUM_SPAN (240u << 10)

static const char *prog = "awsum-mksample";

/* ---- the PRNG: splitmix64, small and with no bad seeds --------------------- */

typedef struct {
  uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* A value in [0, n); the bias for n far below 2^64 does not matter here. */
static uint64_t rng_below(rng *r, uint64_t n) { return n ? rng_next(r) % n : 0; }

/* ---- the plan: every file is (directory, name, size, content seed, tweak) --- */

typedef struct {
  int dir;       /* index into dirs */
  char name[64]; /* basename */
  uint64_t size;
  uint64_t content; /* seed of the byte stream */
  uint8_t tweak;    /* XORed into the last byte: a near-duplicate when nonzero */
  int original;     /* may be copied by later files */
} file_plan;

typedef struct {
  char path[256]; /* relative to DIR, "" for DIR itself; depth <= 4 keeps it short */
} dir_plan;

static const char *const words[] = {
    "src",   "docs", "img",   "data",   "lib", "test",  "old",  "backup",  "notes", "assets",
    "cache", "logs", "music", "photos", "tmp", "build", "Misc", "Archive", "share", "conf",
};
static const char *const stems[] = {
    "report", "index", "photo", "track", "main",  "README", "notes", "config",
    "data",   "log",   "draft", "image", "Thumb", "backup", "list",  "part",
};
static const char *const exts[] = {".txt", ".bin", ".c", ".jpg", ".dat", ".md", ".log", ""};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const uint64_t edge_sizes[] = {
    0, 1, 55, 56, 63, 64, 65, 4095, 4096, 4097, 65535, 65536, 65537, 1048575, 1048576, 1048577,
};

static void usage(FILE *f) {
  fprintf(f,
          "usage: %s DIR [--files N] [--seed S] [--awkward]\n"
          "  Creates a deterministic sample tree under DIR for awsum: N regular files\n"
          "  (default 300, 1..%d) in nested directories, mixed sizes (under 30 MiB in\n"
          "  all), planted duplicate groups and same-size near-duplicates.\n"
          "  --seed S    any unsigned 64-bit number (default 1); the same arguments\n"
          "              always give the same tree, byte for byte\n"
          "  --awkward   also create names with a space, a newline, a carriage return,\n"
          "              a backslash, non-UTF-8 bytes and a leading dash\n"
          "Exit status: 0 done, 1 the tree could not be created, 2 bad arguments.\n",
          prog, MAX_FILES);
}

static void bad_args(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry '%s --help'.\n", prog);
  exit(2);
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  if (!*s || *s == '-' || *s == '+' || *s == ' ')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end)
    return -1;
  *out = v;
  return 0;
}

/* ---- creating things -------------------------------------------------------- */

static char root[PATH_MAX];

static int join(char *out, const char *a, const char *b) {
  int n = snprintf(out, PATH_MAX, "%s%s%s", a, *b ? "/" : "", b);
  if (n < 0 || n >= PATH_MAX) {
    fprintf(stderr, "%s: path too long under %s\n", prog, root);
    return -1;
  }
  return 0;
}

static int make_dir(const char *path) {
  struct stat st;
  if (mkdir(path, 0755) == 0)
    return 0;
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  if (errno == EEXIST)
    errno = ENOTDIR;
  fprintf(stderr, "%s: cannot create directory %s: %s\n", prog, path, strerror(errno));
  return -1;
}

/* mkdir -p for DIR itself. */
static int make_parents(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof buf)
    return -1;
  memcpy(buf, path, n + 1);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = 0;
    if (make_dir(buf) < 0)
      return -1;
    *p = '/';
  }
  return make_dir(buf);
}

static unsigned char block[1 << 16];

/* Writes `size` bytes of the stream `content`, the last one XORed with `tweak`. */
static int write_file(const char *path, uint64_t size, uint64_t content, uint8_t tweak) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    fprintf(stderr, "%s: cannot create %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  rng r = {content};
  uint64_t left = size;
  while (left > 0) {
    size_t n = left < sizeof block ? (size_t)left : sizeof block;
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = rng_next(&r);
      for (size_t k = 0; k < 8 && i + k < n; k++)
        block[i + k] = (unsigned char)(v >> (8 * k));
    }
    if (left == n)
      block[n - 1] ^= tweak;
    for (size_t off = 0; off < n;) {
      ssize_t w = write(fd, block + off, n - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, path,
                w < 0 ? strerror(errno) : "short write");
        close(fd);
        return -1;
      }
      off += (size_t)w;
    }
    left -= n;
  }
  if (close(fd) < 0) {
    fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- the plan ----------------------------------------------------------------- */

static dir_plan *dirs;
static int ndirs;
static file_plan *files;
static int nfiles;

static int add_dir(int parent, const char *name) {
  char p[sizeof dirs->path];
  memcpy(p, dirs[parent].path, sizeof p);
  int n = snprintf(dirs[ndirs].path, sizeof p, "%s%s%s", p, *p ? "/" : "", name);
  if (n < 0 || (size_t)n >= sizeof p)
    return parent; /* cannot happen with these short names; stay flat if it did */
  return ndirs++;
}

/* Directories: a fixed skeleton that makes byte order differ from a walk's order,
 * then random nesting up to depth 4. */
static void plan_dirs(rng *r, int want) {
  ndirs = 1; /* dirs[0] is DIR itself */
  dirs[0].path[0] = 0;
  int data = add_dir(0, "data");
  add_dir(0, "data-old"); /* '-' < '.' < '/': data-old/... < data.txt < data/... */
  add_dir(data, "2024");
  add_dir(0, ".config");
  add_dir(0, "empty"); /* stays empty: awsum prints nothing for it */
  while (ndirs < want) {
    int parent = (int)rng_below(r, (uint64_t)ndirs);
    if (parent == 5) /* keep "empty" empty */
      parent = 0;
    int depth = 0;
    for (const char *c = dirs[parent].path; *c; c++)
      depth += *c == '/';
    if (*dirs[parent].path && depth >= 3)
      parent = 0;
    char name[32];
    snprintf(name, sizeof name, "%s%u", words[rng_below(r, NELEM(words))], (unsigned)ndirs);
    add_dir(parent, name);
  }
}

static uint64_t plan_size(rng *r, int i, uint64_t *total, int *large_left) {
  uint64_t size;
  if ((size_t)i < NELEM(edge_sizes)) {
    size = edge_sizes[i];
  } else {
    uint64_t roll = rng_below(r, 100);
    if (roll < 5)
      size = 0;
    else if (roll < 35)
      size = 1 + rng_below(r, 100);
    else if (roll < 80)
      size = 100 + rng_below(r, 16 << 10);
    else if (roll < 97 || *large_left == 0)
      size = MEDIUM_MIN + rng_below(r, MEDIUM_SPAN);
    else {
      size = LARGE_MIN + rng_below(r, LARGE_SPAN);
      --*large_left;
    }
  }
  if (*total + size > BUDGET) /* past the budget: small files only */
    size = rng_below(r, 200);
  *total += size;
  return size;
}

static void plan_files(rng *r, int n, uint64_t *total) {
  int large_left = 1 + n / 100;
  uint8_t next_tweak = 1;
  int originals = 0;
  *total = 0;
  for (int i = 0; i < n; i++) {
    file_plan *f = &files[i];
    /* The first files go into the skeleton so that it has content. */
    f->dir = i < 5 ? i % 4 : (int)rng_below(r, (uint64_t)ndirs);
    if (f->dir == 5)
      f->dir = 1;
    uint64_t roll = rng_below(r, 100);
    int source = -1;
    if (originals > 0 && i >= (int)NELEM(edge_sizes) && roll < 12) {
      /* Pick an earlier original that is not empty. */
      for (int tries = 0; tries < 16 && source < 0; tries++) {
        int k = (int)rng_below(r, (uint64_t)i);
        if (files[k].original && files[k].size > 0)
          source = k;
      }
    }
    if (source >= 0 && *total + files[source].size > BUDGET)
      source = -1;
    if (source >= 0 && roll < 8) { /* an exact duplicate */
      f->size = files[source].size;
      f->content = files[source].content;
      f->tweak = files[source].tweak;
      f->original = 0;
    } else if (source >= 0) { /* a near-duplicate: the last byte differs */
      f->size = files[source].size;
      f->content = files[source].content;
      f->tweak = (uint8_t)(files[source].tweak ^ next_tweak);
      next_tweak = (uint8_t)(next_tweak % 255 + 1);
      f->original = 0;
    } else {
      f->size = plan_size(r, i, total, &large_left);
      f->content = rng_next(r);
      f->tweak = 0;
      f->original = 1;
      originals++;
    }
    if (!f->original)
      *total += f->size;
    if (i == 0)
      snprintf(f->name, sizeof f->name, "data.txt"); /* beside data/ and data-old/ */
    else if (i == 1)
      snprintf(f->name, sizeof f->name, ".hidden");
    else
      snprintf(f->name, sizeof f->name, "%s-%d%s", stems[rng_below(r, NELEM(stems))], i,
               exts[rng_below(r, NELEM(exts))]);
    if (i == 0 || i == 1)
      f->dir = 0;
  }
}

/* The awkward names, each file with content of its own. */
static const char *const awkward_dirs[] = {"odd names", "odd names/new\nline dir"};
static const char *const awkward_files[] = {
    "odd names/with space.txt",    "odd names/new\nline.txt",        "odd names/carriage\rreturn",
    "odd names/back\\slash",       "odd names/both\\and\nnewline",   "odd names/latin1-caf\xe9",
    "odd names/\xff\xfe not utf8", "odd names/-leading-dash",        "odd names/--help",
    "odd names/utf8-caf\xc3\xa9",  "odd names/new\nline dir/inside", "odd names/trailing space ",
};

int main(int argc, char **argv) {
  const char *dir = NULL;
  uint64_t nfiles_arg = 300, seed = 1;
  int awkward = 0, options_done = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (options_done || a[0] != '-' || !a[1]) {
      if (dir)
        bad_args("unexpected argument '%s' (one DIR only)", a);
      dir = a;
    } else if (!strcmp(a, "--")) {
      options_done = 1;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--files") || !strcmp(a, "--seed")) {
      if (i + 1 >= argc)
        bad_args("option '%s' needs a value", a);
      uint64_t v;
      if (parse_u64(argv[++i], &v) < 0)
        bad_args(!strcmp(a, "--files") ? "--files: not a number: '%s'"
                                       : "--seed: not a number: '%s'",
                 argv[i]);
      if (!strcmp(a, "--files")) {
        if (v < 1 || v > MAX_FILES)
          bad_args("--files: '%s' is out of range (1..100000)", argv[i]);
        nfiles_arg = v;
      } else {
        seed = v;
      }
    } else if (!strcmp(a, "--awkward")) {
      awkward = 1;
    } else {
      bad_args("unknown option '%s'", a);
    }
  }
  if (!dir || !*dir)
    bad_args("%s", "missing DIR");
  if (strlen(dir) >= PATH_MAX - 256)
    bad_args("DIR is too long: %s", dir);
  snprintf(root, sizeof root, "%s", dir);

  int n = (int)nfiles_arg;
  int want_dirs = 6 + n / 12;
  dirs = calloc((size_t)want_dirs, sizeof *dirs);
  files = calloc((size_t)n, sizeof *files);
  if (!dirs || !files) {
    fprintf(stderr, "%s: out of memory\n", prog);
    return 1;
  }
  rng r = {seed ^ 0x617773756d2d7331ull}; /* "awsum-s1": seed 0 is as good as any */
  plan_dirs(&r, want_dirs);
  uint64_t total;
  plan_files(&r, n, &total);
  nfiles = n;

  char path[PATH_MAX];
  if (make_parents(root) < 0)
    return 1;
  for (int i = 1; i < ndirs; i++)
    if (join(path, root, dirs[i].path) < 0 || make_dir(path) < 0)
      return 1;
  for (int i = 0; i < nfiles; i++) {
    const file_plan *f = &files[i];
    char rel[PATH_MAX];
    const char *dp = dirs[f->dir].path;
    snprintf(rel, sizeof rel, "%s%s%s", dp, *dp ? "/" : "", f->name);
    if (join(path, root, rel) < 0 || write_file(path, f->size, f->content, f->tweak) < 0)
      return 1;
  }
  int extra = 0;
  if (awkward) {
    for (size_t i = 0; i < NELEM(awkward_dirs); i++)
      if (join(path, root, awkward_dirs[i]) < 0 || make_dir(path) < 0)
        return 1;
    for (size_t i = 0; i < NELEM(awkward_files); i++) {
      uint64_t size = 1 + rng_below(&r, 3000);
      if (join(path, root, awkward_files[i]) < 0 || write_file(path, size, rng_next(&r), 0) < 0)
        return 1;
      total += size;
      extra++;
    }
  }
  printf("%s: %d files in %d directories, %" PRIu64 " bytes, under %s\n", prog, nfiles + extra,
         ndirs - 1 + (awkward ? (int)NELEM(awkward_dirs) : 0), total, root);
  free(dirs);
  free(files);
  return fflush(stdout) == 0 ? 0 : 1;
}
