// Work done after the response (e-mail delivery, the unknown-address branch of requestPasswordReset).
// Failures are logged; shutdown waits for what is still running.
import { describeError, type Logger } from '../logger';

export class Background {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  run(name: string, work: () => Promise<unknown>): void {
    const task: Promise<void> = Promise.resolve()
      .then(work)
      .then(
        () => undefined,
        (error: unknown) => this.log.error('background task failed', { task: name, ...describeError(error) }),
      )
      .finally(() => this.pending.delete(task));
    this.pending.add(task);
  }

  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
