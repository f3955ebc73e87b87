// process.emitWarning reaches the 'warning' listeners in a nextTick; a rejection handled after it was reported warns PromiseRejectionHandledWarning with its rejection id
process.on('warning', (w) => console.log('warning', w.name, w.message));
process.on('uncaughtException', (e, origin) => console.log('uncaught', e.message, origin));
process.emitWarning('something odd');
Promise.resolve().then(() => console.log('microtask before the warning'));
Promise.reject(new Error('handled in the same tick')).catch(() => {});
const p = Promise.reject(new Error('late'));
setTimeout(() => p.catch(() => console.log('caught late')), 5);
console.log('sync end');
