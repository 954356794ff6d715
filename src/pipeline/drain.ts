/**
 * When the pipeline is idle: nothing waits in the backlog or to settle, no upload is queued or
 * running, and no announcement is being posted. Each stage is waited for in pipeline order, and
 * the check repeats, because a later stage's work can feed an earlier one (a failed upload settles
 * again; the backlog releases more units as the settle stage and queue make room).
 */
export interface DrainableStages {
  backlog: { feed(): void; size(): number };
  settler: { whenIdle(): Promise<void>; count(): number };
  queue: { onIdle(): Promise<void>; waiting(): number; running(): number };
  announcer: { whenIdle(): Promise<void> };
}

export async function drainPipeline(s: DrainableStages): Promise<void> {
  for (;;) {
    s.backlog.feed();
    await s.settler.whenIdle();
    await s.queue.onIdle();
    await s.announcer.whenIdle();
    if (s.backlog.size() === 0 && s.settler.count() === 0 && s.queue.waiting() === 0 && s.queue.running() === 0) return;
  }
}
