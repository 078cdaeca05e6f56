// The live view's stream: Watch namespaces (by name or prefix), resume from the last revision after any
// failure with backoff, and report the connection state so the page can say so.

import { create } from "@bufbuild/protobuf";
import type { ConfigClient } from "./api";
import { Code, describeError } from "./api";
import type { ChangeSet, Snapshot } from "./gen/configd/v1/config_pb";
import { WatchRequestSchema } from "./gen/configd/v1/config_pb";

export type LiveState =
  | { kind: "connecting"; from: bigint }
  | { kind: "live"; revision: bigint }
  | { kind: "reconnecting"; from: bigint; inMs: number; reason: string }
  | { kind: "stopped" };

export interface LiveHandlers {
  /** Every change set of a watched namespace, in revision order, each once. */
  onChange(change: ChangeSet): void;
  onSnapshot(snapshot: Snapshot): void;
  onState(state: LiveState): void;
  /** If given, a refusal (no access) ends the watch with this call instead of retrying. */
  onRefused?(reason: string): void;
}

/** What to watch: exact namespace names and name prefixes ("" is every namespace). */
export interface LiveSelector {
  namespaces?: string[];
  prefixes?: string[];
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5_000;
// Progress messages arrive while idle; silence this long means the stream is dead.
const SILENCE_LIMIT_MS = 75_000;

export class LiveWatch {
  private readonly abort = new AbortController();
  private lastSeen: bigint;
  private wake: (() => void) | null = null;

  /** Deliver every change to the selected namespaces after revision `after`, until stop(). */
  constructor(
    private readonly client: ConfigClient,
    private readonly selector: LiveSelector,
    after: bigint,
    private readonly handlers: LiveHandlers,
  ) {
    this.lastSeen = after;
    void this.run();
  }

  get revision(): bigint {
    return this.lastSeen;
  }

  /** Skip the rest of the backoff wait (a "reconnect now" button, or the browser going online). */
  retryNow(): void {
    this.wake?.();
  }

  stop(): void {
    this.abort.abort();
    this.handlers.onState({ kind: "stopped" });
  }

  private async run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!this.abort.signal.aborted) {
      const attempt = new AbortController();
      const onStop = () => attempt.abort();
      this.abort.signal.addEventListener("abort", onStop);
      let silence = 0;
      const armWatchdog = () => {
        clearTimeout(silence);
        silence = window.setTimeout(() => attempt.abort(new Error("no message from configd")), SILENCE_LIMIT_MS);
      };
      let reason = "the stream ended";
      try {
        this.handlers.onState({ kind: "connecting", from: this.lastSeen + 1n });
        armWatchdog();
        const request = create(WatchRequestSchema, {
          namespaces: this.selector.namespaces ?? [],
          prefixes: this.selector.prefixes ?? [],
          startRevision: this.lastSeen + 1n,
        });
        const stream = this.client.watch(request, {
          signal: attempt.signal,
          onHeader: () => this.handlers.onState({ kind: "live", revision: this.lastSeen }),
        });
        for await (const response of stream) {
          armWatchdog();
          backoff = BACKOFF_MIN_MS;
          const event = response.event;
          if (event.case === "changeSet") {
            if (event.value.revision <= this.lastSeen) continue; // never apply twice
            this.lastSeen = event.value.revision;
            this.handlers.onChange(event.value);
          } else if (event.case === "snapshot") {
            this.lastSeen = event.value.revision;
            this.handlers.onSnapshot(event.value);
          } else if (event.case === "progress") {
            if (event.value.revision > this.lastSeen) this.lastSeen = event.value.revision;
          }
          this.handlers.onState({ kind: "live", revision: this.lastSeen });
        }
      } catch (err) {
        if (this.abort.signal.aborted) break;
        const error = await describeError(err);
        if (this.abort.signal.aborted) break;
        reason = error.message;
        const refused = error.code === Code.PermissionDenied || error.code === Code.Unauthenticated;
        if (refused && this.handlers.onRefused) {
          this.handlers.onRefused(reason);
          break;
        }
      } finally {
        clearTimeout(silence);
        this.abort.signal.removeEventListener("abort", onStop);
      }
      if (this.abort.signal.aborted) break;
      this.handlers.onState({ kind: "reconnecting", from: this.lastSeen + 1n, inMs: backoff, reason });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
        this.abort.signal.addEventListener("abort", this.wake);
      });
      if (this.wake) this.abort.signal.removeEventListener("abort", this.wake);
      this.wake = null;
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  }
}
