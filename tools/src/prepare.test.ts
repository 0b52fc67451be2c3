import { describe, expect, it } from 'vitest';
import { planChats } from './prepare.js';

describe('chat layout', () => {
  it('puts every user in one group and one direct chat', () => {
    const layout = planChats(25, 10, 0.3);
    const groups = layout.chats.filter((c) => c.kind === 'group');
    const directs = layout.chats.filter((c) => c.kind === 'direct');
    expect(groups.map((g) => g.members.length)).toEqual([10, 10, 5]);
    // 25 users: 12 pairs and the last one paired with the first.
    expect(directs).toHaveLength(13);
    expect(directs.at(-1)!.members).toEqual([24, 0]);
    for (let u = 0; u < 25; u++) {
      expect(layout.chats[layout.groupOf[u]!]!.members).toContain(u);
      expect(layout.chats[layout.directOf[u]!]!.members).toContain(u);
    }
  });

  it('folds a lone remainder into the last group, since nobody could read a group of one', () => {
    const layout = planChats(21, 10, 0);
    expect(layout.chats.map((c) => c.members.length)).toEqual([10, 11]);
    expect(layout.directOf.every((d) => d === -1)).toBe(true);
  });

  it('creates only direct chats when every message goes to one', () => {
    const layout = planChats(4, 10, 1);
    expect(layout.chats).toEqual([
      { kind: 'direct', members: [0, 1] },
      { kind: 'direct', members: [2, 3] },
    ]);
    expect(layout.groupOf).toEqual([-1, -1, -1, -1]);
  });
});
