// An unhandled rejection with no 'unhandledRejection' listener reaches
// 'uncaughtException' as the error itself, or, for a reason that is not an
// error, wrapped in an UnhandledPromiseRejection naming it (found by difftest)
process.on('uncaughtException', (e) => console.log('uncaught', e.name + ':', e.message));
Promise.reject(5);
setTimeout(() => Promise.reject('w2'), 5);
setTimeout(() => Promise.reject(new Error('boom')), 10);
setTimeout(() => Promise.reject(Promise.resolve(1)), 15);
setTimeout(() => Promise.reject([1, 2]), 20);
