// process.on keeps lists: listeners run in registration order, removeListener takes one (the last added), removeAllListeners takes all; a throw in an unhandledRejection listener is an uncaught exception
const first = (e) => console.log('uncaught first', e.message);
const second = (e) => console.log('uncaught second', e.message);
process.on('uncaughtException', first);
process.on('uncaughtException', second);
process.on('uncaughtException', first);
process.on('unhandledRejection', (r) => console.log('unhandled A', r.message));
process.on('unhandledRejection', (r) => {
  console.log('unhandled B', r.message);
  throw new Error('thrown by B');
});
process.on('unhandledRejection', () => console.log('unhandled C (never printed)'));
Promise.reject(new Error('r1'));
setTimeout(() => {
  process.removeListener('uncaughtException', first);
  console.log('count', process.listenerCount('uncaughtException'));
  setTimeout(() => {
    process.removeAllListeners('unhandledRejection');
    process.on('rejectionHandled', () => console.log('handled later'));
    const p = Promise.reject(new Error('r2'));
    setTimeout(() => p.catch(() => console.log('caught r2')), 5);
  }, 1);
  throw new Error('t1');
}, 1);
console.log('sync end');
