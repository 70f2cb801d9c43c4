// A log writer for rotation tests, run as its own process: writes `total` numbered lines at
// `rate` lines/s to FILE and rotates every `every` lines, alternating rename+create and
// copytruncate (the two ways logrotate rotates). Prints "done" when finished.
// Usage: node --import tsx log-writer.ts FILE TOTAL RATE EVERY [prefix]
import { closeSync, copyFileSync, ftruncateSync, openSync, renameSync, writeSync } from 'node:fs';

const [file, totalS, rateS, everyS, prefix = 'seq'] = process.argv.slice(2);
const total = Number(totalS);
const rate = Number(rateS);
const every = Number(everyS);
let fd = openSync(file!, 'a');
let rotations = 0;
let n = 0;
const started = Date.now();
const levels = ['INFO', 'INFO', 'INFO', 'WARN', 'ERROR'];

function rotate(): void {
  rotations++;
  if (rotations % 2 === 1) {
    renameSync(file!, `${file}.${rotations}`);
    closeSync(fd);
    fd = openSync(file!, 'a');
  } else {
    // copytruncate: the writer keeps its descriptor (O_APPEND), the file is copied then emptied.
    copyFileSync(file!, `${file}.${rotations}`);
    ftruncateSync(fd, 0);
  }
}

while (n < total) {
  const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
  let chunk = '';
  while (n < due) {
    n++;
    chunk += `2024-01-02 03:04:05,${String(n % 1000).padStart(3, '0')} ${levels[n % levels.length]} [w] a.B - ${prefix}=${n} payload ${'x'.repeat(n % 40)}\n`;
    if (n % every === 0) {
      writeSync(fd, chunk);
      chunk = '';
      rotate();
    }
  }
  if (chunk) writeSync(fd, chunk);
  await new Promise((r) => setTimeout(r, 5));
}
closeSync(fd);
process.stdout.write(`done ${n} ${rotations}\n`);
