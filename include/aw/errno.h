/*
 * aw/errno.h — error codes.
 *
 * Every libawait call that can fail before anything is queued returns 0 (or a
 * count) on success and a negative errno on failure, as liburing and libuv do.
 * It never sets errno, and a call that returned an error never runs its
 * callback or settles anything later.
 *
 * The codes are the system's errno values, negated, plus a few of libawait's
 * own above 4000 (libuv keeps its own in the same range). aw_strerror() and
 * aw_err_name() give every code a message and a name.
 */
#ifndef AW_ERRNO_H
#define AW_ERRNO_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libawait's own codes (negative, outside the errno range). */
#define AW_EUNCAUGHT (-4094) /* an exception or rejection reached the top */
#define AW_ENOURING (-4093)  /* io_uring cannot be used on this system */
#define AW_EFORKED (-4092)   /* the loop was made by the parent process (fork): free it only */

/*
 * X-macro table: XX(NAME, message). The io and workers layers cover these
 * names in their errors; anything else still gets the C library's message.
 */
#define AW_ERRNO_MAP(XX)                                                                           \
  XX(EPERM, "Operation not permitted")                                                             \
  XX(ENOENT, "No such file or directory")                                                          \
  XX(ESRCH, "No such process")                                                                     \
  XX(EINTR, "Interrupted system call")                                                             \
  XX(EIO, "Input/output error")                                                                    \
  XX(ENXIO, "No such device or address")                                                           \
  XX(E2BIG, "Argument list too long")                                                              \
  XX(EBADF, "Bad file descriptor")                                                                 \
  XX(EAGAIN, "Resource temporarily unavailable")                                                   \
  XX(ENOMEM, "Cannot allocate memory")                                                             \
  XX(EACCES, "Permission denied")                                                                  \
  XX(EFAULT, "Bad address")                                                                        \
  XX(EBUSY, "Device or resource busy")                                                             \
  XX(EEXIST, "File exists")                                                                        \
  XX(EXDEV, "Invalid cross-device link")                                                           \
  XX(ENODEV, "No such device")                                                                     \
  XX(ENOTDIR, "Not a directory")                                                                   \
  XX(EISDIR, "Is a directory")                                                                     \
  XX(EINVAL, "Invalid argument")                                                                   \
  XX(ENFILE, "Too many open files in system")                                                      \
  XX(EMFILE, "Too many open files")                                                                \
  XX(ENOTTY, "Inappropriate ioctl for device")                                                     \
  XX(EFBIG, "File too large")                                                                      \
  XX(ENOSPC, "No space left on device")                                                            \
  XX(ESPIPE, "Illegal seek")                                                                       \
  XX(EROFS, "Read-only file system")                                                               \
  XX(EMLINK, "Too many links")                                                                     \
  XX(EPIPE, "Broken pipe")                                                                         \
  XX(ERANGE, "Numerical result out of range")                                                      \
  XX(ENAMETOOLONG, "File name too long")                                                           \
  XX(ENOSYS, "Function not implemented")                                                           \
  XX(ENOTEMPTY, "Directory not empty")                                                             \
  XX(ELOOP, "Too many levels of symbolic links")                                                   \
  XX(EOVERFLOW, "Value too large for defined data type")                                           \
  XX(ENOTSOCK, "Socket operation on non-socket")                                                   \
  XX(EMSGSIZE, "Message too long")                                                                 \
  XX(EPROTONOSUPPORT, "Protocol not supported")                                                    \
  XX(EOPNOTSUPP, "Operation not supported")                                                        \
  XX(EAFNOSUPPORT, "Address family not supported by protocol")                                     \
  XX(EADDRINUSE, "Address already in use")                                                         \
  XX(EADDRNOTAVAIL, "Cannot assign requested address")                                             \
  XX(ENETDOWN, "Network is down")                                                                  \
  XX(ENETUNREACH, "Network is unreachable")                                                        \
  XX(ECONNABORTED, "Software caused connection abort")                                             \
  XX(ECONNRESET, "Connection reset by peer")                                                       \
  XX(ENOBUFS, "No buffer space available")                                                         \
  XX(EISCONN, "Transport endpoint is already connected")                                           \
  XX(ENOTCONN, "Transport endpoint is not connected")                                              \
  XX(ETIMEDOUT, "Connection timed out")                                                            \
  XX(ECONNREFUSED, "Connection refused")                                                           \
  XX(EHOSTUNREACH, "No route to host")                                                             \
  XX(EALREADY, "Operation already in progress")                                                    \
  XX(EINPROGRESS, "Operation now in progress")                                                     \
  XX(ECANCELED, "Operation canceled")

/*
 * The message for a code: negative (as returned by libawait) or positive (an
 * errno value). Never NULL; unknown codes give "Unknown error".
 */
const char *aw_strerror(int code);

/* The symbolic name ("ENOENT", "EUNCAUGHT"); "UNKNOWN" for unknown codes. */
const char *aw_err_name(int code);

#ifdef __cplusplus
}
#endif
#endif
