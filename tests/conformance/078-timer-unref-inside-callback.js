// a timer that refreshes itself keeps the loop alive until it unrefs itself from inside its callback; hasRef follows
let m = 0;
setTimeout(function () {
  m++;
  console.log('self', m, this.hasRef());
  this.refresh();
  if (m === 2) this.unref();
  console.log('after', m, this.hasRef());
}, 3);
console.log('sync end');
