// AbortSignal.any and timers/promises' setTimeout with a signal, as Node 20
// runs them (found by difftest): a signal's 'abort' listeners run before the
// signals combined from it, which hang on the plain sources (a combined
// source stands for its own), in the order they were made; a delay aborted
// rejects with an AbortError caused by the reason, through a finally
const { setTimeout: delay } = require('timers/promises');
const a = new AbortController();
a.signal.addEventListener('abort', () => console.log('a listener 1'));
const c1 = AbortSignal.any([a.signal]);
c1.addEventListener('abort', () => console.log('c1 listener'));
const c3 = AbortSignal.any([a.signal]);
c3.addEventListener('abort', () => console.log('c3 listener'));
const c2 = AbortSignal.any([c1]);
c2.addEventListener('abort', () => console.log('c2 listener'));
a.signal.addEventListener('abort', () => console.log('a listener 2'));
c1.addEventListener('abort', () => console.log('c1 listener 2, c2 aborted:', c2.aborted, 'c3 aborted:', c3.aborted));
a.abort();

function ticks(tag, n) {
  let p = Promise.resolve();
  for (let i = 1; i <= n; i++) p = p.then(() => console.log(tag, 'tick', i));
}
const b = new AbortController();
delay(1000000, undefined, { signal: b.signal }).catch((e) =>
  console.log('delay 1', e.name, e.message, 'cause:', e.cause));
setTimeout(() => {
  b.abort('why');
  ticks('abort', 5);
}, 5);
const c = new AbortController();
setTimeout(() => {
  delay(1, undefined, { signal: c.signal }).then(() => console.log('delay 2 fired'));
  delay(1).then(() => console.log('delay 3 (no signal) fired'));
}, 20);
setTimeout(() => {
  const d = new AbortController();
  d.abort();
  delay(1, undefined, { signal: d.signal }).catch((e) =>
    console.log('delay 4', e.name, e.message, 'cause:', e.cause.name));
  ticks('aborted', 2);
}, 40);
