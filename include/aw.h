/*
 * aw.h — libawait: the execution model of JavaScript for C programs.
 *
 * One event-loop thread owns every promise and the microtask queue; async
 * functions are stackless state machines that suspend at await and resume in
 * a microtask; completions from elsewhere come back as macrotasks. The order
 * of everything observable is Node.js's, tick for tick.
 *
 *   aw/val.h      values, objects, strings, arrays, errors, thenables
 *   aw/loop.h     the loop, timers, immediates, microtasks, nextTick, hooks
 *   aw/promise.h  promises, then/catch/finally, combinators, resolvers
 *   aw/async.h    async functions: AW_BEGIN, AW_AWAIT, AW_RETURN, ...
 *   aw/signal.h   AbortSignal: cancellation and timeouts
 *   aw/io.h       files and sockets on io_uring
 *   aw/work.h     the worker pool: aw_work, pools, aw_dns_lookup
 *   aw/errno.h    error codes, aw_strerror, aw_err_name
 */
#ifndef AW_H
#define AW_H

#include "aw/async.h"
#include "aw/errno.h"
#include "aw/fn.h"
#include "aw/io.h"
#include "aw/loop.h"
#include "aw/promise.h"
#include "aw/signal.h"
#include "aw/val.h"
#include "aw/work.h"

#define AW_VERSION_MAJOR 0
#define AW_VERSION_MINOR 1
#define AW_VERSION_PATCH 0

#endif
