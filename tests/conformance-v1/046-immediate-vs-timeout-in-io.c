// inside an I/O callback setImmediate runs before setTimeout(0): the check phase comes before the
// next timers phase
#include <stdlib.h>

#include "conf.h"

/*
 * fs.readFile(__filename, cb): aw_fs_read_file reads through the loop's
 * io_uring; its completion is a macrotask of the I/O phase, and the handler
 * below runs in that macrotask's microtask checkpoint, before the loop moves
 * on to the check phase, as Node's callback does.
 */
static void log_task(aw_loop *L, void *msg) { conf_log("%s", (const char *)msg); }

static aw_val on_read(aw_loop *L, aw_val data, void *arg) {
  conf_log("read bytes %zu", ((aw_buf *)data.u.o)->len);
  aw_set_timeout(L, 0, log_task, "timeout");
  aw_set_immediate(L, log_task, "immediate");
  aw_release(conf_then(aw_promise_resolved(L, aw_undefined()), conf_log_then, NULL, "io micro"));
  conf_log("io callback end");
  return aw_undefined();
}

static aw_val on_error(aw_loop *L, aw_val err, void *arg) {
  fprintf(stderr, "readFile: %s\n", aw_error_message(err) ? aw_error_message(err) : "?");
  return aw_undefined();
}

static void program(aw_loop *L) {
  aw_io_caps caps;
  if (aw_io_caps_get(L, &caps) == -ENOSYS) {
    fprintf(stderr, "skipped: this program needs io_uring (AW_IO=none)\n");
    exit(77);
  }
  const char *dir = getenv("CONF_DIR");
  char filename[4096]; /* __filename */
  snprintf(filename, sizeof filename, "%s/046-immediate-vs-timeout-in-io.js", dir ? dir : ".");
  aw_release(conf_then(aw_fs_read_file(L, filename, NULL), on_read, on_error, NULL));
  conf_log("sync end");
}

int main(void) { return conf_main(program); }
