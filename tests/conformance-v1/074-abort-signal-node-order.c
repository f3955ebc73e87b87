// AbortSignal.any and timers/promises' setTimeout with a signal, as Node 20
// runs them (found by difftest): a signal's 'abort' listeners run before the
// signals combined from it, which hang on the plain sources (a combined
// source stands for its own), in the order they were made; a delay aborted
// rejects with an AbortError caused by the reason, through a finally
#include "aw/io.h"
#include "aw/signal.h"
#include "conf.h"

static aw_signal *a, *c1, *c2, *c3, *b, *c;

static void log_listener(aw_loop *L, aw_signal *s, aw_signal_listener *l);
static void c1_listener_2(aw_loop *L, aw_signal *s, aw_signal_listener *l);
static struct {
  aw_signal_listener l;
  const char *msg;
} ls[] = {{{.fn = log_listener}, "a listener 1"}, {{.fn = log_listener}, "c1 listener"},
          {{.fn = log_listener}, "c3 listener"},  {{.fn = log_listener}, "c2 listener"},
          {{.fn = log_listener}, "a listener 2"}, {{.fn = c1_listener_2}, NULL}};

static void log_listener(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++)
    if (&ls[i].l == l)
      conf_log("%s", ls[i].msg);
}

static void c1_listener_2(aw_loop *L, aw_signal *s, aw_signal_listener *l) {
  conf_log("c1 listener 2, c2 aborted: %s c3 aborted: %s", aw_signal_aborted(c2) ? "true" : "false",
           aw_signal_aborted(c3) ? "true" : "false");
}

static aw_val tick(aw_loop *L, aw_val v, void *arg) {
  const char *tag = arg;
  int64_t i = v.u.i + 1; /* the index the previous link returned */
  conf_log("%s tick %lld", tag, (long long)i);
  return aw_int(i);
}

/* let p = Promise.resolve(); for (i = 1..n) p = p.then(() => console.log(tag, 'tick', i)) */
static void ticks(aw_loop *L, const char *tag, int n) {
  aw_promise *p = aw_promise_resolved(L, aw_int(0));
  for (int i = 0; i < n; i++)
    p = conf_then(p, tick, NULL, (void *)tag);
  aw_release(p);
}

static aw_val on_delay_rejected(aw_loop *L, aw_val e, void *label) {
  aw_error *err = aw_as_error(e);
  aw_error *cause = aw_as_error(err->cause);
  const char *cs = aw_cstr(err->cause);
  conf_log("%s %s %s cause: %s", (const char *)label, err->name, err->message->data,
           cause ? cause->name
           : cs  ? cs
                 : "?");
  return aw_undefined();
}

static void abort_b(aw_loop *L, void *arg) {
  aw_signal_abort(b, aw_string("why"));
  ticks(L, "abort", 5);
}

static void delays(aw_loop *L, void *arg) {
  aw_io_opts o = {.signal = c};
  aw_release(conf_then(aw_delay(L, 1, &o), conf_log_then, NULL, "delay 2 fired"));
  aw_release(conf_then(aw_delay(L, 1, NULL), conf_log_then, NULL, "delay 3 (no signal) fired"));
}

static void aborted_delay(aw_loop *L, void *arg) {
  aw_signal *d = aw_signal_new(L);
  aw_signal_abort(d, aw_undefined());
  aw_io_opts o = {.signal = d};
  aw_release(conf_catch(aw_delay(L, 1, &o), on_delay_rejected, "delay 4"));
  ticks(L, "aborted", 2);
  aw_release(d);
}

static void program(aw_loop *L) {
  a = aw_signal_new(L);
  aw_signal_listen(a, &ls[0].l);
  c1 = aw_signal_any(L, &a, 1);
  aw_signal_listen(c1, &ls[1].l);
  c3 = aw_signal_any(L, &a, 1);
  aw_signal_listen(c3, &ls[2].l);
  c2 = aw_signal_any(L, &c1, 1);
  aw_signal_listen(c2, &ls[3].l);
  aw_signal_listen(a, &ls[4].l);
  aw_signal_listen(c1, &ls[5].l);
  aw_signal_abort(a, aw_undefined());

  b = aw_signal_new(L);
  aw_io_opts o = {.signal = b};
  aw_release(conf_catch(aw_delay(L, 1000000, &o), on_delay_rejected, "delay 1"));
  aw_set_timeout(L, 5, abort_b, NULL);
  c = aw_signal_new(L);
  aw_set_timeout(L, 20, delays, NULL);
  aw_set_timeout(L, 40, aborted_delay, NULL);
  conf_keep_val(aw_obj_val(a));
  conf_keep_val(aw_obj_val(c1));
  conf_keep_val(aw_obj_val(c2));
  conf_keep_val(aw_obj_val(c3));
  conf_keep_val(aw_obj_val(b));
  conf_keep_val(aw_obj_val(c));
  aw_release(a);
  aw_release(c1);
  aw_release(c2);
  aw_release(c3);
  aw_release(b);
  aw_release(c);
}

int main(void) { return conf_main(program); }
