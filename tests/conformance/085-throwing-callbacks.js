// timer, immediate, nextTick and queueMicrotask callbacks that throw reach 'uncaughtException', and the rest of each callback does not run
process.on('uncaughtException', (e) => console.log('uncaught', e.message));
setTimeout(() => {
  console.log('timer');
  throw new Error('from timer');
}, 100);
setImmediate(() => {
  console.log('immediate');
  throw new Error('from immediate');
});
process.nextTick(() => {
  console.log('tick');
  throw new Error('from tick');
});
queueMicrotask(() => {
  console.log('microtask');
  throw new Error('from microtask');
});
Promise.resolve().then(() => console.log('then after the microtask'));
console.log('sync end');
