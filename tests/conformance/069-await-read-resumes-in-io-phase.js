// an awaited file read resumes in the I/O phase's microtask checkpoint: setImmediate from there still runs before setTimeout(0)
const fsp = require('fs').promises;
async function main() {
  const data = await fsp.readFile(__filename);
  console.log('read', data.length > 0);
  setTimeout(() => console.log('timeout'), 0);
  setImmediate(() => console.log('immediate'));
  queueMicrotask(() => console.log('micro'));
  console.log('after await');
}
main().then(() => console.log('main done'));
console.log('sync end');
