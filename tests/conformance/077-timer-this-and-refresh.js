// a timer callback reaches its own timer as this: refresh() inside it runs it again; refresh() of a pending timer starts its delay again
let n = 0;
const t = setTimeout(function () {
  n++;
  console.log('tick', n, this === t, this.hasRef());
  if (n < 3) this.refresh();
}, 2);
const u = setTimeout(() => console.log('u fires 60 ms after its refresh'), 60);
setTimeout(() => {
  u.refresh();
  console.log('u refreshed at 40');
}, 40);
setTimeout(() => console.log('80 ms timer, before u'), 80);
console.log('sync end');
