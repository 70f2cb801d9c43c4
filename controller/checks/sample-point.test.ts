import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { samplePoint } from './sample-point.js';

describe('samplePoint (one rule for stored tiers, raw series and the live feed)', () => {
  it('reduces an agent sample: fullest disk, first load, network summed without lo', () => {
    const p = samplePoint({
      cpu: { percent: 12.5 },
      mem: { used_percent: 40 },
      load: [0.7, 0.5, 0.2],
      disks: [{ used_percent: 30 }, { used_percent: 81 }],
      net: [
        { iface: 'lo', rx_bps: 1e9, tx_bps: 1e9 },
        { iface: 'eth0', rx_bps: 100, tx_bps: 10 },
        { iface: 'eth1', rx_bps: 50, tx_bps: 5 },
      ],
    });
    assert.deepEqual(p, { cpu: 12.5, mem: 40, disk: 81, load1: 0.7, rxBps: 150, txBps: 15 });
  });

  it('reads missing or wrongly typed fields as 0 and never throws (an agent body is untrusted)', () => {
    const zero = { cpu: 0, mem: 0, disk: 0, load1: 0, rxBps: 0, txBps: 0 };
    for (const bad of [undefined, null, 'x', 42, [], {}, { cpu: 'high', mem: null, load: 'x', disks: 'sda', net: { iface: 'eth0' } }, { disks: [null, 'x'], net: [null, 7], cpu: { percent: Number.NaN } }]) {
      assert.deepEqual(samplePoint(bad), zero, JSON.stringify(bad));
    }
  });
});
