// What a throw cuts short is owed to the next drain (found by difftest):
// a nextTick that throws ends its drain, and what is left runs after the next
// callback, at the start of the check phase (Node's native-immediates scope),
// or after the empty immediate Node queues once an uncaughtException
// listener has handled an exception ("so that any ticks get processed")
process.on('uncaughtException', (e) => console.log('uncaught', e));
process.on('unhandledRejection', (r) => console.log('unhandled', r));
setImmediate(() => console.log('immediate'));
process.nextTick(() => {
  console.log('tick 1');
  Promise.reject('r1');
  throw 't1';
});
process.nextTick(() => {
  console.log('tick 2');
  process.nextTick(() => console.log('tick 3'));
  throw 't2';
});
Promise.resolve().then(() => console.log('micro'));
console.log('main');
setTimeout(() => {
  console.log('timer');
  process.nextTick(() => { console.log('tick 4'); throw 't4'; });
  process.nextTick(() => { console.log('tick 5'); throw 't5'; });
  process.nextTick(() => console.log('tick 6'));
  setImmediate(() => console.log('immediate 2'));
}, 20);
setTimeout(() => {
  setImmediate(() => {
    console.log('immediate 3');
    process.nextTick(() => console.log('tick 7'));
    throw 'i3';
  });
  throw 'timer 2';
}, 40);
setTimeout(() => setImmediate(() => console.log('immediate 4')), 40);
setTimeout(() => {
  setImmediate(() => {
    console.log('immediate 5');
    process.nextTick(() => {
      console.log('tick 8');
      setImmediate(() => console.log('immediate 6'));
      throw 't8';
    });
    process.nextTick(() => console.log('tick 9'));
  });
}, 60);
