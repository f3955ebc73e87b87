/*
 * io/send.h — what io/send.c shares with the rest of io/: the process's
 * SIGPIPE policy (see aw_loop_config.keep_sigpipe and aw/io.h, "sending").
 */
#ifndef AW_IO_SEND_H
#define AW_IO_SEND_H

#include <stdbool.h>
#include <stdint.h>

#include "aw/loop.h"

/*
 * From aw__io_init: unless cfg->keep_sigpipe, the first call in the process
 * sets SIGPIPE to SIG_IGN if it is SIG_DFL (later calls do nothing).
 */
void aw__sigpipe_init(const aw_loop_config *cfg);

/* Up to this many bytes aw_sock_sendfile copies (read + send) instead of splicing (a knob
 * for tests and benchmarks; io/send.c says why). */
extern uint64_t aw__sendfile_copy_max;

#endif
