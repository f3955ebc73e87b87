// a throw in an 'exit' listener stops the listeners after it and reaches 'uncaughtException'; the exit code stays
process.on('exit', (code) => {
  console.log('exit 1', code);
  throw new Error('from exit');
});
process.on('exit', () => console.log('exit 2 (never printed)'));
process.on('uncaughtException', (e, origin) => console.log('uncaught', e.message, origin));
console.log('sync end');
