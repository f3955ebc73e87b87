// inside an I/O callback setImmediate runs before setTimeout(0): the check phase comes before the
// next timers phase
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

/*
 * fs.readFile(__filename, cb): a helper thread reads the file and hands the
 * result back to the loop with aw_loop_post(); cb runs as an I/O macrotask.
 */
typedef struct read_req {
  aw_loop *L;
  pthread_t thread;
  char path[4096];
  int err; /* errno, or 0 */
  char *data;
  size_t len;
  void (*cb)(aw_loop *L, int err, const char *data, size_t len);
} read_req;

static void read_done(aw_loop *L, void *arg) {
  read_req *r = arg;
  pthread_join(r->thread, NULL);
  aw_loop_unref(L);
  r->cb(L, r->err, r->data, r->len);
  free(r->data);
  free(r);
}

static void *read_thread(void *arg) {
  read_req *r = arg;
  FILE *f = fopen(r->path, "rb");
  if (!f) {
    r->err = errno;
  } else {
    size_t cap = 4096;
    r->data = malloc(cap);
    size_t n;
    while ((n = fread(r->data + r->len, 1, cap - r->len, f)) > 0) {
      r->len += n;
      if (r->len == cap)
        r->data = realloc(r->data, cap *= 2);
    }
    if (ferror(f))
      r->err = EIO;
    fclose(f);
  }
  aw_loop_post(r->L, read_done, r); /* the one thread-safe call */
  return NULL;
}

static void read_file(aw_loop *L, const char *path,
                      void (*cb)(aw_loop *L, int err, const char *data, size_t len)) {
  read_req *r = calloc(1, sizeof *r);
  r->L = L;
  r->cb = cb;
  snprintf(r->path, sizeof r->path, "%s", path);
  aw_loop_ref(L); /* the read keeps the loop alive until read_done */
  int rc = pthread_create(&r->thread, NULL, read_thread, r);
  if (rc != 0) {
    fprintf(stderr, "pthread_create: %s\n", strerror(rc));
    abort();
  }
}

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static void on_read(aw_loop *L, int err, const char *data, size_t len) {
  if (err) {
    fprintf(stderr, "readFile: %s\n", strerror(err));
    return;
  }
  conf_log("read bytes %zu", len);
  aw_set_timeout(L, 0, log_task, "timeout");
  aw_set_immediate(L, log_task, "immediate");
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "io micro"));
  conf_log("io callback end");
}

static void program(aw_loop *L) {
  const char *dir = getenv("CONF_DIR");
  char filename[4096]; /* __filename */
  snprintf(filename, sizeof filename, "%s/046-immediate-vs-timeout-in-io.js", dir ? dir : ".");
  read_file(L, filename, on_read);
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
