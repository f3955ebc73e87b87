// an awaited file read resumes in the I/O phase's microtask checkpoint: setImmediate from there
// still runs before setTimeout(0)
#include <stdlib.h>

#include "conf.h"

static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }
static void log_micro(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

typedef struct main_frame {
  aw_frame frame;
  char filename[4096]; /* __filename */
} main_frame;

static void main_body(aw_loop *L, aw_frame *self) {
  main_frame *f = (main_frame *)self;
  AW_BEGIN(self);
  aw_val data;
  AW_AWAIT(data, aw_fs_read_file(L, f->filename, NULL));
  conf_log("read %s", ((aw_buf *)data.u.o)->len > 0 ? "true" : "false");
  aw_release_val(data);
  aw_set_timeout(L, 0, log_task, "timeout");
  aw_set_immediate(L, log_task, "immediate");
  aw_queue_microtask(L, log_micro, "micro");
  conf_log("after await");
  AW_END;
}

static void program(aw_loop *L) {
  aw_io_caps caps;
  if (aw_io_caps_get(L, &caps) == -ENOSYS) {
    fprintf(stderr, "skipped: this program needs io_uring (AW_IO=none)\n");
    exit(77);
  }
  AW_ASYNC_NEW(L, main_frame, main_body, f);
  const char *dir = getenv("CONF_DIR");
  snprintf(f->filename, sizeof f->filename, "%s/069-await-read-resumes-in-io-phase.js",
           dir ? dir : ".");
  aw_release(conf_then(aw_async_start(&f->frame), conf_log_then, NULL, "main done"));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
