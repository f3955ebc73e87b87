// an unref'd immediate does not keep the loop alive: alone it never runs, and hasRef() says so
const lone = setImmediate(() => console.log('unref lone runs (never printed)'));
lone.unref();
console.log('hasRef after unref', lone.hasRef());
console.log('sync end');
