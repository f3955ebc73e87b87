/*
 * aw/signal.h — cancellation: AbortController and AbortSignal in one object.
 *
 * A signal starts unaborted and can be aborted once, with a reason (an
 * AbortError "This operation was aborted" unless you give one). Every I/O
 * operation (and later every worker job) accepts a signal in its options:
 * aborting it cancels the operation, whose promise then rejects with the
 * signal's reason. aw_signal_timeout() makes a signal that aborts itself with
 * a TimeoutError after a delay, without keeping the loop alive.
 *
 * Listeners run synchronously inside aw_signal_abort, in the order they were
 * added, as Node dispatches the 'abort' event. A listener is a node you
 * embed in your own structure (no allocation); remove it before that
 * structure goes away.
 *
 * Signals are objects of one loop, for its thread (aw_retain/aw_release).
 */
#ifndef AW_SIGNAL_H
#define AW_SIGNAL_H

#include "loop.h"
#include "val.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct aw_signal aw_signal;
typedef struct aw_signal_listener aw_signal_listener;

typedef void (*aw_abort_fn)(aw_loop *L, aw_signal *s, aw_signal_listener *l);

struct aw_signal_listener {
  aw_signal_listener *prev_, *next_; /* private */
  aw_abort_fn fn;
};

/* A new signal (an AbortController's). NULL on a loop of another thread. */
aw_signal *aw_signal_new(aw_loop *L);

/*
 * AbortSignal.timeout(ms): aborts itself with a TimeoutError "The operation
 * was aborted due to timeout" after ms milliseconds. Its timer does not keep
 * the loop alive, and goes away with the signal.
 */
aw_signal *aw_signal_timeout(aw_loop *L, uint64_t ms);

/*
 * AbortSignal.any(signals): a new signal that aborts when the first of the n
 * signals does, with that signal's reason (the very value). If one is
 * aborted already, it is born aborted with the reason of the first aborted
 * one in the array. n == 0 gives a signal that never aborts. The sources are
 * borrowed: the new signal retains each one and listens to it until it
 * aborts or is freed, then unlistens and releases them all, so dropping the
 * combined signal early leaves nothing on its sources, and the sources never
 * hold the combined signal (no cycle). A source may appear twice; a combined
 * signal may be a source of another (it is not flattened: its own abort is
 * what the outer one hears). NULL: L or an entry NULL, a signal of another
 * loop, a loop of another thread, or no memory for n listeners.
 */
aw_signal *aw_signal_any(aw_loop *L, aw_signal **signals, size_t n);

/*
 * controller.abort(reason): reason is consumed; undefined means an AbortError
 * "This operation was aborted". Aborting twice does nothing (0 both times).
 * -EINVAL for NULL, -EPERM from another thread.
 */
int aw_signal_abort(aw_signal *s, aw_val reason);

bool aw_signal_aborted(const aw_signal *s);
/* The reason (borrowed); undefined until aborted. */
aw_val aw_signal_reason(const aw_signal *s);

/*
 * Adds l (with l->fn set) to the signal's listeners; it runs once, when the
 * signal aborts. Adding to an aborted signal does nothing and returns
 * -ECANCELED: check aw_signal_aborted first.
 */
int aw_signal_listen(aw_signal *s, aw_signal_listener *l);
/* Removes l if it is still listening (harmless otherwise). */
void aw_signal_unlisten(aw_signal *s, aw_signal_listener *l);

#ifdef __cplusplus
}
#endif
#endif
