// an uncaught exception stops the loop with exit code 1: the 'exit' listeners still run, with process.exitCode 1, and nothing else does
process.on('exit', (code) => console.log('exit', code, process.exitCode));
setTimeout(() => {
  console.log('timer throws');
  throw new Error('boom');
}, 1);
setTimeout(() => console.log('later timer (never printed)'), 20);
console.log('sync end');
