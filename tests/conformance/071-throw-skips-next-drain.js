// A throw out of a timer or immediate callback (or out of a nextTick of the
// drain after one) skips the drain before the next callback of the phase:
// Node calls processTimers/processImmediate again (found by difftest)
process.on('uncaughtException', (e) => console.log('uncaught', e));
setTimeout(() => {
  process.nextTick(() => console.log('tick'));
  Promise.resolve().then(() => console.log('micro'));
  throw 'timer';
}, 5);
setTimeout(() => console.log('timer 2 (same list)'), 5);
setTimeout(() => {
  setImmediate(() => {
    process.nextTick(() => console.log('itick'));
    Promise.resolve().then(() => console.log('imicro'));
    throw 'immediate';
  });
  setImmediate(() => console.log('immediate 2'));
  setImmediate(() => console.log('immediate 3'));
}, 50);
setTimeout(() => {
  process.nextTick(() => { throw 'tick'; });
  process.nextTick(() => console.log('tick 2'));
  Promise.resolve().then(() => console.log('micro 2'));
}, 100);
setTimeout(() => console.log('timer 4 (same list)'), 100);
setTimeout(() => {
  queueMicrotask(() => { throw 'microtask'; });
  queueMicrotask(() => console.log('microtask 2'));
}, 150);
setTimeout(() => console.log('timer 6 (same list)'), 150);
