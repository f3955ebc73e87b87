// When the last immediate of the check phase throws, Node calls
// processImmediate again at once, and that call runs the immediates queued
// since (they would otherwise wait for the next loop turn, after its timers)
process.on('uncaughtException', (e) => console.log('uncaught', e));
function busy(ms) { const t0 = Date.now(); while (Date.now() < t0 + ms); }
setImmediate(() => {
  console.log('immediate 1');
  setTimeout(() => console.log('timer 1'), 1);
  setImmediate(() => console.log('immediate 2'));
  busy(5);
  throw 'i1';
});
setTimeout(() => {
  setImmediate(() => {
    console.log('immediate 3');
    setTimeout(() => console.log('timer 2'), 1);
    setImmediate(() => console.log('immediate 4'));
    busy(5);
  });
}, 50);
