import { describe, expect, it } from 'vitest';
import { drainPipeline } from '../../src/pipeline/drain.js';

describe('drain', () => {
  it('waits again when a later stage feeds an earlier one (a failed upload settles again), and returns once every stage is empty', async () => {
    const order: string[] = [];
    let settling = 0;
    let uploadsLeft = 2; // each upload round sends one file back to the settle stage, twice
    const stages = {
      backlog: { feed: () => void order.push('feed'), size: () => 0 },
      settler: {
        whenIdle: async () => {
          order.push('settled');
          settling = 0;
        },
        count: () => settling,
      },
      queue: {
        onIdle: async () => {
          order.push('uploaded');
          if (uploadsLeft > 0) {
            uploadsLeft--;
            settling = 1;
          }
        },
        waiting: () => 0,
        running: () => 0,
      },
      announcer: { whenIdle: async () => void order.push('announced') },
    };
    await drainPipeline(stages);
    expect(order).toEqual(['feed', 'settled', 'uploaded', 'announced', 'feed', 'settled', 'uploaded', 'announced', 'feed', 'settled', 'uploaded', 'announced']);
  });

  it('does not return while the backlog still holds units the settle stage has not taken', async () => {
    let backlog = 3;
    const stages = {
      backlog: { feed: () => void (backlog = Math.max(0, backlog - 1)), size: () => backlog },
      settler: { whenIdle: async () => undefined, count: () => 0 },
      queue: { onIdle: async () => undefined, waiting: () => 0, running: () => 0 },
      announcer: { whenIdle: async () => undefined },
    };
    await drainPipeline(stages);
    expect(backlog).toBe(0);
  });
});
