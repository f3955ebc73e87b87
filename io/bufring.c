/*
 * io/bufring.c — the loop's provided buffer ring (IORING_REGISTER_PBUF_RING).
 *
 * A recv with IOSQE_BUFFER_SELECT holds no memory while it waits: when data
 * comes, the kernel takes the next buffer of this ring, fills it and names it
 * in the CQE (IORING_CQE_F_BUFFER, the buffer id above the flag bits). That
 * is what lets an idle connection cost a few hundred bytes instead of a
 * buffer. The buffer is handed to the user as an aw_buf (AW__BUF_EXTERNAL)
 * without a copy; freeing that aw_buf puts the buffer back at the ring's tail.
 *
 * Layout: each buffer is a slot of SLOT_HDR bytes of header (its ring, its
 * id) followed by BUFSIZE bytes of data, so that the aw_buf's data pointer
 * alone leads back to the ring. Slots come in slabs: the first BUFS_MIN at
 * first use, then, each time a recv finds the ring empty (ENOBUFS) while it
 * is nearly empty by our count, as many again, up to ENTRIES buffers (the
 * ring's size, fixed at registration). Past that, a recv that gets ENOBUFS
 * falls back to a recv into a buffer of its own (see io/recv.c, io/net.c).
 *
 * Ownership and threads. The ring has a reference count: one for the loop,
 * one per buffer handed out. Only the loop's thread writes the ring (one
 * producer, as the kernel requires); a buffer freed on another thread (an
 * aw_buf sent to a pool job) goes on a lock-free stack that the loop's next
 * I/O phase drains. aw_loop_free unregisters the ring and drops the loop's
 * reference: buffers still out stay valid, and the last one frees the slabs.
 */
#define _GNU_SOURCE
#include "io/backend.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUFSIZE (16u * 1024) /* one chunk: big enough for a request, small for an idle loop */
#define BUFS_MIN 64u         /* at first use: 1 MiB */
#define ENTRIES 2048u        /* at most: 32 MiB of buffers; the ring itself is 32 KiB */
#define SLABS_MAX 16
#define SLOT_HDR 32u
#define GROUP 0

typedef struct slot {
  aw__bufring *ring;
  struct slot *next; /* on the stack of buffers given back from other threads */
  uint32_t bid;
} slot;
_Static_assert(sizeof(slot) <= SLOT_HDR, "the slot header fits before the data");

struct aw__bufring {
  atomic_uint_fast32_t refs; /* the loop's + one per buffer handed out */
  pthread_t owner;           /* the loop's thread: the only one that writes the ring */
  aw_loop *loop;             /* NULL once the loop went (read on the owner thread only) */
  struct io_uring_buf_ring *br;
  size_t br_bytes;
  unsigned nbufs;   /* buffers made so far */
  unsigned in_ring; /* of those, in the ring by our count (the CQEs reaped so far) */
  unsigned nslabs;
  uint8_t *slabs[SLABS_MAX];
  size_t slab_bytes[SLABS_MAX];
  slot *by_bid[ENTRIES];
  _Atomic(slot *) returned; /* given back on other threads */
};

static uint8_t *slot_data(slot *s) { return (uint8_t *)s + SLOT_HDR; }
static slot *data_slot(uint8_t *data) { return (slot *)(void *)(data - SLOT_HDR); }

/* Puts a buffer at the ring's tail, where the kernel finds it after the others. */
static void ring_add(aw__bufring *b, slot *s) {
  io_uring_buf_ring_add(b->br, slot_data(s), BUFSIZE, (unsigned short)s->bid,
                        io_uring_buf_ring_mask(ENTRIES), 0);
  io_uring_buf_ring_advance(b->br, 1); /* a release store: the kernel sees the entry first */
  b->in_ring++;
}

/* A slab of n more buffers, all put in the ring; false if out of memory or full. */
static bool add_slab(aw__bufring *b, unsigned n) {
  if (b->nslabs == SLABS_MAX || b->nbufs + n > ENTRIES)
    return false;
  size_t bytes = (size_t)n * (SLOT_HDR + BUFSIZE);
  uint8_t *mem = aw__try_alloc(bytes);
  if (!mem)
    return false;
  b->slabs[b->nslabs] = mem;
  b->slab_bytes[b->nslabs++] = bytes;
  for (unsigned i = 0; i < n; i++) {
    slot *s = (slot *)(void *)(mem + (size_t)i * (SLOT_HDR + BUFSIZE));
    s->ring = b;
    s->next = NULL;
    s->bid = b->nbufs + i;
    b->by_bid[s->bid] = s;
    ring_add(b, s);
  }
  b->nbufs += n;
  return true;
}

static void ring_destroy(aw__bufring *b) {
  for (unsigned i = 0; i < b->nslabs; i++)
    aw__free(b->slabs[i], b->slab_bytes[i]);
  free(b->br);
  aw__free(b, sizeof *b);
}

static void ring_unref(aw__bufring *b) {
  if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
    ring_destroy(b);
}

aw__bufring *aw__bufring_get(aw_loop *L, int *err) {
  aw__io *R = L->io;
  if (R->bufring)
    return R->bufring;
  if (R->bufring_err) { /* a kernel without buffer rings (before 5.19): asked once */
    *err = R->bufring_err;
    return NULL;
  }
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t bytes = ENTRIES * sizeof(struct io_uring_buf);
  void *mem = NULL;
  /* the kernel maps the ring from our memory: it wants it page aligned */
  if (posix_memalign(&mem, page, (bytes + page - 1) / page * page) != 0) {
    *err = -ENOMEM;
    return NULL;
  }
  aw__bufring *b = aw__calloc(sizeof *b);
  b->br = mem;
  b->br_bytes = bytes;
  b->owner = L->owner;
  b->loop = L;
  atomic_init(&b->refs, 1);
  atomic_init(&b->returned, NULL);
  io_uring_buf_ring_init(b->br);
  int r = AW__FAULT_OR(OPEN, -ENOMEM, aw__be_buf_ring_register(R, b->br, ENTRIES, GROUP));
  if (r == 0 && !add_slab(b, BUFS_MIN)) {
    aw__be_buf_ring_unregister(R, GROUP);
    r = -ENOMEM;
  }
  if (r < 0) {
    free(mem);
    aw__free(b, sizeof *b);
    *err = r;
    if (r != -ENOMEM) /* out of memory may pass; the kernel's answer does not */
      R->bufring_err = r;
    return NULL;
  }
  R->bufring = b;
  return b;
}

uint16_t aw__bufring_group(const aw__bufring *br) {
  (void)br;
  return GROUP;
}

size_t aw__bufring_bufsize(const aw__bufring *br) {
  (void)br;
  return BUFSIZE;
}

static slot *cqe_slot(aw__bufring *b, uint32_t cqe_flags) {
  uint32_t bid = cqe_flags >> IORING_CQE_BUFFER_SHIFT;
  slot *s = bid < b->nbufs ? b->by_bid[bid] : NULL;
  if (s && b->in_ring)
    b->in_ring--;
  return s;
}

aw_buf *aw__bufring_take(aw__bufring *b, uint32_t cqe_flags, size_t len) {
  slot *s = cqe_slot(b, cqe_flags);
  if (!s)
    return NULL; /* not a buffer of ours: cannot happen */
  aw__io_defined(slot_data(s), len);
  aw_buf *buf = aw__buf_external(slot_data(s), len, BUFSIZE, aw__buf_external_free);
  if (!buf) {
    ring_add(b, s);
    return NULL;
  }
  atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
  return buf;
}

void aw__bufring_give_back(aw__bufring *b, uint32_t cqe_flags) {
  if (!(cqe_flags & IORING_CQE_F_BUFFER))
    return;
  slot *s = cqe_slot(b, cqe_flags);
  if (s)
    ring_add(b, s);
}

bool aw__bufring_grow(aw__bufring *b) {
  /* Several recvs of one burst report ENOBUFS together: grow once, when the ring is about
   * empty by our count, not once per report. */
  if (b->in_ring > b->nbufs / 8)
    return true; /* buffers came back since: try again */
  unsigned n = b->nbufs;
  if (b->nbufs + n > ENTRIES)
    n = ENTRIES - b->nbufs;
  return n > 0 && add_slab(b, n);
}

void aw__bufring_reclaim(aw__bufring *b) {
  if (AW__LIKELY(atomic_load_explicit(&b->returned, memory_order_relaxed) == NULL))
    return;
  slot *s = atomic_exchange_explicit(&b->returned, NULL, memory_order_acquire);
  while (s) {
    slot *next = s->next;
    ring_add(b, s);
    s = next;
  }
}

void aw__buf_external_free(uint8_t *data) {
  slot *s = data_slot(data);
  aw__bufring *b = s->ring;
  if (pthread_equal(b->owner, pthread_self()) && b->loop) {
    ring_add(b, s); /* the common case: straight back, ready for the next recv */
  } else {
    /* another thread, or the loop is gone: the loop's next I/O phase puts it back */
    slot *head = atomic_load_explicit(&b->returned, memory_order_relaxed);
    do
      s->next = head;
    while (!atomic_compare_exchange_weak_explicit(&b->returned, &head, s, memory_order_release,
                                                  memory_order_relaxed));
  }
  ring_unref(b);
}

void aw__bufring_loop_free(aw_loop *L) {
  aw__io *R = L->io;
  aw__bufring *b = R->bufring;
  if (!b)
    return;
  R->bufring = NULL;
  aw__be_buf_ring_unregister(R, GROUP);
  b->loop = NULL;
  ring_unref(b);
}
