import { describe, expect, it } from 'vitest';
import { nodeOf, planDevices, reconnectNode, targetOf } from './devices.js';

describe('spreading devices over several servers', () => {
  it('puts device k of user n on server (n + k) mod N', () => {
    expect(planDevices(4, 2, 3)).toEqual([
      { user: 0, device: 0, node: 0 },
      { user: 0, device: 1, node: 1 },
      { user: 1, device: 0, node: 1 },
      { user: 1, device: 1, node: 2 },
      { user: 2, device: 0, node: 2 },
      { user: 2, device: 1, node: 0 },
      { user: 3, device: 0, node: 0 },
      { user: 3, device: 1, node: 1 },
    ]);
  });

  it('sends everything to the one server when there is one', () => {
    expect(planDevices(5, 3, 1).every((d) => d.node === 0)).toBe(true);
    expect(planDevices(5, 3, 1)).toHaveLength(15);
  });

  it("puts a user's devices on different servers while there are enough of them", () => {
    for (const [devices, nodes] of [
      [2, 2],
      [2, 3],
      [3, 3],
      [3, 5],
    ] as const) {
      for (let user = 0; user < 30; user++) {
        const used = Array.from({ length: devices }, (_, k) => nodeOf(user, k, nodes));
        expect(new Set(used).size).toBe(devices);
      }
    }
  });

  it('gives every server an equal share (exactly, when the users divide evenly)', () => {
    for (const [users, devices, nodes] of [
      [500, 2, 3],
      [500, 1, 3],
      [7, 3, 2],
      [100, 10, 7],
    ] as const) {
      const perNode = new Array<number>(nodes).fill(0);
      for (const d of planDevices(users, devices, nodes)) perNode[d.node]! += 1;
      expect(perNode.reduce((a, b) => a + b, 0)).toBe(users * devices);
      // Each device slot is a round-robin of its own: at most one more per slot.
      expect(Math.max(...perNode) - Math.min(...perNode)).toBeLessThanOrEqual(devices);
    }
    const even = new Array<number>(3).fill(0);
    for (const d of planDevices(501, 2, 3)) even[d.node]! += 1;
    expect(even).toEqual([334, 334, 334]);
  });

  it('derives the WebSocket URL of each server', () => {
    expect(targetOf('http://127.0.0.1:3001')).toEqual({
      url: 'http://127.0.0.1:3001',
      wsUrl: 'ws://127.0.0.1:3001/ws',
    });
    expect(targetOf('https://[::1]:8443/').wsUrl).toBe('wss://[::1]:8443/ws');
  });
});

describe('where a dropped device reconnects', () => {
  it('tries its own server first, then each next --url in turn as attempts fail', () => {
    expect([0, 1, 2, 3, 4].map((failures) => reconnectNode(1, failures, 3))).toEqual([1, 2, 0, 1, 2]);
    // One URL (a load balancer in front of the nodes): always that one.
    expect([0, 1, 2].map((failures) => reconnectNode(0, failures, 1))).toEqual([0, 0, 0]);
  });
});
