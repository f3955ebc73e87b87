// a throw inside an 'uncaughtException' listener is fatal: exit code 7, and the 'exit' listeners do not run
process.on('exit', (code) => console.log('exit (never printed)', code));
process.on('uncaughtException', (e) => {
  console.log('uncaught', e.message);
  throw new Error('in the listener');
});
setTimeout(() => {
  throw new Error('boom');
}, 1);
setTimeout(() => console.log('later timer (never printed)'), 20);
console.log('sync end');
