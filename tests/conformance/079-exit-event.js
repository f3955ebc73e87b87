// 'exit' listeners run in registration order once the loop has nothing left, with the exit code; one added meanwhile is not called, a tick queued from one never runs, a microtask runs after the last
process.on('exit', (code) => {
  console.log('exit 1', code, process.exitCode);
  process.exitCode = 3;
  process.on('exit', () => console.log('added during exit (never printed)'));
  process.nextTick(() => console.log('tick from exit (never printed)'));
  Promise.resolve().then(() => console.log('microtask from exit'));
});
process.on('exit', (code) => console.log('exit 2', code, process.exitCode));
setTimeout(() => console.log('timer'), 1);
console.log('sync end');
