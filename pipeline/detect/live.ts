import { join } from 'node:path';
import type { SinksConfig } from '../sink/config';
import { Dispatcher, type SinkEvent } from '../sink/deliver';
import type { Alert } from '../domain/findings';
import { LoopWatcher, type RoundResult, type WatchOptions } from './watch';

/**
 * Continuous detection wired to the sinks, for `consume --sinks` and `watch`: a detection round runs every
 * `intervalSeconds`, and at once when the consumer has just committed new sign-ins (trigger()). Each round's
 * alerts are saved as pending in the alert state, appended to every sink's outbox, then marked delivered to
 * the outboxes; a crash in between hands the same alerts (same event ids) out again, and the outboxes skip
 * the ones they already hold.
 */
export type LiveEvent =
  | ({ event: 'detect' } & Omit<RoundResult, 'alerts'> & { alerts: number })
  | { event: 'alert'; event_id: string; action: Alert['action']; severity: Alert['severity']; title: string }
  | { event: 'detect_error'; message: string }
  | SinkEvent;

export interface LiveOptions {
  watch: Omit<WatchOptions, 'stateDir'> & { stateDir?: string };
  sinks: SinksConfig;
  intervalSeconds?: number;
  log: (e: LiveEvent) => void;
}

export class LiveDetection {
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private triggered = false;
  private behind: readonly string[] = [];
  private loop: Promise<void> = Promise.resolve();
  rounds = 0;

  private constructor(
    private readonly watcher: LoopWatcher,
    readonly dispatcher: Dispatcher,
    private readonly intervalMs: number,
    private readonly log: (e: LiveEvent) => void,
  ) {}

  /** Where alert state and outboxes live unless told otherwise: beside the lake's own bookkeeping. */
  static stateDirOf(lakeDir: string): string {
    return join(lakeDir, '_alerts');
  }

  static async start(lakeDir: string, o: LiveOptions): Promise<LiveDetection> {
    const stateDir = o.watch.stateDir ?? LiveDetection.stateDirOf(lakeDir);
    const dispatcher = await Dispatcher.open(o.sinks, o.sinks.outbox?.dir ?? join(stateDir, 'outbox'), o.log);
    let watcher: LoopWatcher;
    try {
      watcher = await LoopWatcher.open(lakeDir, { ...o.watch, stateDir });
      // Alerts a crash left between the state file and the outboxes.
      if (watcher.pending.length) {
        await dispatcher.publish(watcher.pending);
        await watcher.delivered();
      }
    } catch (e) {
      await dispatcher.close();
      throw e;
    }
    const live = new LiveDetection(watcher, dispatcher, (o.intervalSeconds ?? 5) * 1000, o.log);
    live.loop = live.run();
    return live;
  }

  /**
   * New sign-ins were committed: run a round now rather than at the next tick. `behind`: the Event Hubs
   * partitions with events not committed yet, whose loops are not judged stopped until they catch up.
   */
  trigger(behind: readonly string[] = []): void {
    this.behind = behind;
    this.triggered = true;
    this.wakeUp?.();
  }

  /**
   * A last round (so what the consumer committed last is alerted), then up to `drainMs` for the sinks to empty.
   * `caughtUp`: the source has nothing more to deliver, so stopped loops close without waiting for late data.
   */
  async stop(drainMs = 5000, caughtUp = false): Promise<{ drained: boolean }> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
    await this.round(caughtUp);
    const drained = await this.dispatcher.drain(drainMs);
    await this.dispatcher.close();
    this.watcher.close();
    return { drained };
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.round();
      if (this.stopped) break;
      if (!this.triggered) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.intervalMs);
          this.wakeUp = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakeUp = null;
      }
      this.triggered = false;
    }
  }

  private async round(final = false): Promise<Alert[]> {
    try {
      const r = await this.watcher.round({ final, behind: this.behind });
      this.rounds++;
      // Everything pending, not just this round's: a round whose append failed (disk full) is retried here.
      await this.dispatcher.publish(this.watcher.pending);
      await this.watcher.delivered();
      const { alerts, ...rest } = r;
      this.log({ event: 'detect', ...rest, alerts: alerts.length });
      for (const a of alerts) this.log({ event: 'alert', event_id: a.event_id, action: a.action, severity: a.severity, title: a.title });
      return alerts;
    } catch (e) {
      // The lake or DuckDB failed this round (a file being replaced, memory): the next round tries again.
      this.log({ event: 'detect_error', message: (e as Error).message });
      return [];
    }
  }
}
