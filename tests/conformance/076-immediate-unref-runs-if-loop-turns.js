// an unref'd immediate runs in the check phase of a turn the loop makes for something else, in queue order; ref() undoes unref(); a cleared one never runs
const a = setImmediate(() => console.log('unref a'));
a.unref();
setImmediate(() => console.log('ref b'));
const c = setImmediate(() => console.log('unref c cleared (never printed)'));
c.unref();
clearImmediate(c);
const back = setImmediate(() => console.log('ref again'));
back.unref();
back.ref();
console.log('hasRef', a.hasRef(), back.hasRef());
setTimeout(() => {
  console.log('timer');
  setImmediate(() => console.log('unref d from timer')).unref();
  setTimeout(() => console.log('last timer'), 5);
}, 5);
console.log('sync end');
