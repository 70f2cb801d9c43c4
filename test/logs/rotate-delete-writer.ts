// Writes numbered log lines and rotates faster than the agent scans: every ROTATE_MS the file is
// renamed to FILE.N and a new FILE created; each rotated file is deleted DELETE_MS later.
// Prints "done N ROTATIONS" when finished.
// Usage: node --import tsx rotate-delete-writer.ts FILE TOTAL RATE ROTATE_MS DELETE_MS
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

const [file, totalS, rateS, rotateS, deleteS] = process.argv.slice(2);
const total = Number(totalS);
const rate = Number(rateS);
const rotateMs = Number(rotateS);
const deleteMs = Number(deleteS);
let fd = openSync(file!, 'a');
let rotations = 0;
let n = 0;
const started = Date.now();
let lastRotate = started;
const pending: Array<Promise<void>> = [];
while (n < total) {
  const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * rate) + 1);
  let chunk = '';
  while (n < due) {
    n++;
    chunk += `2024-01-02 03:04:05,${String(n % 1000).padStart(3, '0')} ${n % 5 === 0 ? 'ERROR' : 'INFO'} [w] a.B - seq=${n}\n`;
  }
  if (chunk) writeSync(fd, chunk);
  if (Date.now() - lastRotate >= rotateMs) {
    lastRotate = Date.now();
    const to = `${file}.${++rotations}`;
    renameSync(file!, to);
    closeSync(fd);
    fd = openSync(file!, 'a');
    pending.push(new Promise((r) => setTimeout(() => (unlinkSync(to), r()), deleteMs)));
  }
  await new Promise((r) => setTimeout(r, 5));
}
closeSync(fd);
await Promise.all(pending);
process.stdout.write(`done ${n} ${rotations}\n`);
