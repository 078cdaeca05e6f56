// A namespace's release (progressive delivery): the running or last release, its slice, how
// far its clients got (in all and by label), why any rejected it, and Promote / Abort; with
// none running, the form that starts one (release_start.ts).

import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { type ApiError, Code, type ReleaseApi, describeError } from "./api";
import { clear, h } from "./dom";
import {
  AckOutcome,
  type GetReleaseResponse,
  type Release,
  type ReleaseClient,
  ReleaseState,
} from "./gen/configd/v1/release_pb";
import { longText } from "./longtext";
import { StartForm } from "./release_start";

// A running release moves with every client's ack: poll it often. Without one, the page's
// Watch does not see a start (a release's start goes to its slice only, and the console is
// in none), so a slower poll finds a release someone else started.
const RUNNING_POLL_MS = 1_000;
const IDLE_POLL_MS = 5_000;

export interface ReleaseHooks {
  /** The page's change message, used for Start, Promote and Abort. */
  message(): string;
  /** The namespace's current document (JSON text), where a staged document starts from. */
  document(): string;
  /** A call failed: shown as the page shows its other errors. */
  onError(error: ApiError): void;
  /** Our start, promotion or abort committed at `revision`. */
  onWritten(notice: string, revision: bigint): void;
  /** Whether a release runs now (the page marks its tab). */
  onRunning(running: boolean): void;
  /**
   * A release started or ended since the last look: the namespace's revision moved without a
   * change set on the page's Watch (starts and aborts go to the slice only), so re-read it.
   */
  onMoved(): void;
}

type Outcome = "applied" | "rejected" | "pending";

const OUTCOMES: Outcome[] = ["applied", "rejected", "pending"];

function outcomeOf(client: ReleaseClient): Outcome {
  if (client.outcome === AckOutcome.APPLIED) return "applied";
  if (client.outcome === AckOutcome.REJECTED) return "rejected";
  return "pending";
}

export class ReleasePanel {
  readonly root = h("div", { id: "release-panel", class: "release" });
  private status: GetReleaseResponse | null = null;
  private timer = 0;
  private stopped = false;
  private loading: Promise<void> | null = null;
  private again = false; // a refresh was asked for while one was in flight
  private busy = false; // a promotion or abort is in flight
  private seen: string | null = null; // "id:state" of the release last read ("" for none)
  private readonly startForm: StartForm;

  constructor(
    private readonly client: ReleaseApi,
    private readonly namespace: string,
    private readonly hooks: ReleaseHooks,
  ) {
    this.startForm = new StartForm(client, namespace, {
      document: () => hooks.document(),
      message: () => hooks.message(),
      onStarted: (revision) => {
        hooks.onWritten(`Started release #${revision} at r${revision}.`, revision);
        void this.refresh();
      },
    });
    this.root.append(h("p", { class: "hint" }, "Loading the release…"));
  }

  get running(): boolean {
    return this.status?.release?.state === ReleaseState.RUNNING;
  }

  start(): void {
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Read the release again now (a live RELEASE_* change, a write refused under a release). */
  refresh(): Promise<void> {
    if (this.loading !== null) {
      // One call at a time; the one asked for meanwhile runs once this one is back.
      this.again = true;
      return this.loading;
    }
    this.loading = this.load().finally(() => {
      this.loading = null;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    clearTimeout(this.timer);
    try {
      const status = await this.client.getRelease({ namespace: this.namespace, releaseId: 0n });
      if (this.stopped) return;
      this.status = status;
      this.noteRelease(`${status.release?.id ?? 0n}:${status.release?.state ?? 0}`);
      this.render();
    } catch (err) {
      if (this.stopped) return;
      const error = await describeError(err);
      if (error.code === Code.NotFound) {
        // No release yet (or no namespace, which the page says already).
        this.status = null;
        this.noteRelease("");
        this.render();
      } else {
        this.renderUnavailable(error.message);
      }
    } finally {
      if (!this.stopped) {
        this.hooks.onRunning(this.running);
        this.timer = window.setTimeout(() => void this.refresh(), this.running ? RUNNING_POLL_MS : IDLE_POLL_MS);
      }
    }
  }

  private noteRelease(key: string): void {
    if (this.seen !== null && this.seen !== key) this.hooks.onMoved();
    this.seen = key;
  }

  // -- rendering -------------------------------------------------------------------------------

  private renderUnavailable(message: string): void {
    // Keep what was last read (it stays true until proven otherwise), saying it is not fresh;
    // with nothing read yet, the message replaces "Loading".
    if (this.root.dataset.state === undefined) clear(this.root);
    this.root.querySelector(".release-stale")?.remove();
    this.root.prepend(h("p", { class: "notice release-stale" }, `Could not read the release: ${message}`));
  }

  private render(): void {
    clear(this.root);
    const release = this.status?.release;
    if (this.status === null || release === undefined) {
      this.root.dataset.state = "none";
      this.root.append(
        h("p", { class: "hint", id: "release-none" }, "No release of this namespace yet. Start one here or with ", h("code", { class: "cmd" }, "configctl release start"), "."),
        this.startForm.root,
      );
      return;
    }
    const running = release.state === ReleaseState.RUNNING;
    this.root.dataset.state = stateName(release.state);
    this.root.dataset.releaseId = String(release.id);
    const parts: (HTMLElement | null)[] = [
      h(
        "div",
        { class: "release-head" },
        h("h3", {}, `Release #${release.id}`),
        h("span", { class: `release-state state-${stateName(release.state)}`, id: "release-state" }, stateName(release.state)),
      ),
      this.renderFacts(release),
      this.renderTally(this.status),
      running ? this.renderActions(release) : this.renderEnd(release),
      running ? null : this.startForm.root,
      this.renderGroups(this.status.clients),
      this.renderRejections(this.status.clients),
      this.renderClients(this.status.clients),
      this.renderChanges(release),
    ];
    this.root.append(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private renderFacts(release: Release): HTMLElement {
    const selectors = release.selectors.length
      ? release.selectors.map((s) => `${s.label}=${s.value}`).join(", ")
      : "every client watching the namespace";
    const percent = release.percent === 0 ? 100 : release.percent;
    const rows: [string, string, Node | string][] = [
      ["started", "release-started", `by ${release.startedBy || "(anonymous)"} at r${release.id} · ${formatTime(release.startedAt)}`],
      ["message", "release-message", release.message || "—"],
      ["selectors", "release-selectors", selectors],
      ["percent", "release-percent", `${percent}% of the matching clients`],
      [
        "max failures",
        "release-max-failures",
        release.maxFailures === undefined ? "no limit (never aborts by itself)" : `aborts by itself after more than ${release.maxFailures} rejection(s)`,
      ],
      [
        "bake",
        "release-bake",
        release.bakeSeconds > 0
          ? `promotes by itself ${release.bakeSeconds} s after the last targeted client applied it, with no rejection`
          : "none (never promotes by itself)",
      ],
    ];
    return h(
      "dl",
      { class: "release-facts" },
      rows.flatMap(([term, id, value]) => [h("dt", {}, term), h("dd", { id }, value)]),
    );
  }

  private renderTally(status: GetReleaseResponse): HTMLElement {
    const tally = status.tally;
    const counts: Record<Outcome | "targeted", bigint> = {
      targeted: tally?.targeted ?? 0n,
      applied: tally?.applied ?? 0n,
      rejected: tally?.rejected ?? 0n,
      pending: tally?.pending ?? 0n,
    };
    const total = counts.targeted > 0n ? counts.targeted : 1n;
    // One bar, a segment per outcome, as wide as its share of the targeted clients.
    const bar = h(
      "div",
      { class: "release-bar", role: "img", "aria-label": `${counts.applied} applied, ${counts.rejected} rejected, ${counts.pending} pending of ${counts.targeted}` },
      OUTCOMES.map((o) =>
        h("span", { class: `seg seg-${o}`, style: `width: ${(Number(counts[o]) * 100) / Number(total)}%`, title: `${counts[o]} ${o}` }),
      ),
    );
    const parts = (["targeted", ...OUTCOMES] as const).map((name) =>
      h("span", { class: `count count-${name}`, "data-count": name, "data-value": String(counts[name]) }, `${name} ${counts[name]}`),
    );
    return h(
      "div",
      { class: "release-tally", id: "release-tally" },
      bar,
      h("div", { class: "counts" }, parts.flatMap((p, i) => (i ? [" · ", p] : [p]))),
    );
  }

  private renderActions(release: Release): HTMLElement {
    const button = (id: string, label: string, confirm: string, primary: boolean, act: () => Promise<void>) =>
      h(
        "button",
        {
          type: "button",
          id,
          class: primary ? "primary" : "",
          disabled: this.busy,
          onclick: (ev: Event) => {
            // A second click confirms: both change what every client of the slice runs.
            const el = ev.currentTarget as HTMLButtonElement;
            if (el.dataset.confirm !== "yes") {
              el.dataset.confirm = "yes";
              el.textContent = confirm;
              return;
            }
            void act();
          },
        },
        label,
      );
    return h(
      "div",
      { class: "actions release-actions" },
      button("release-promote", "Promote", `Confirm: promote release #${release.id} to every client`, true, () => this.end(release, true)),
      button("release-abort", "Abort", `Confirm: abort release #${release.id} (the slice returns)`, false, () => this.end(release, false)),
      h("span", { class: "hint" }, "uses the change message above"),
    );
  }

  private async end(release: Release, promote: boolean): Promise<void> {
    this.busy = true;
    this.render();
    const request = { namespace: this.namespace, releaseId: release.id, message: this.hooks.message() };
    try {
      const result = promote ? await this.client.promoteRelease(request) : await this.client.abortRelease(request);
      const verb = promote ? "Promoted" : "Aborted";
      this.hooks.onWritten(`${verb} release #${release.id} at r${result.revision}.`, result.revision);
    } catch (err) {
      this.hooks.onError(await describeError(err));
    } finally {
      this.busy = false;
    }
    await this.refresh();
  }

  private renderEnd(release: Release): HTMLElement {
    const verb = release.state === ReleaseState.PROMOTED ? "promoted" : "aborted";
    return h(
      "p",
      { class: "release-end", id: "release-end" },
      h("strong", {}, `${verb} at r${release.endRevision}`),
      ` by ${release.endedBy || "(anonymous)"} · ${formatTime(release.endedAt)}`,
      release.endMessage ? h("q", {}, release.endMessage) : null,
    );
  }

  /** For each label key the clients carry, the outcomes per value (zone=eu: 3 applied, 1 pending). */
  private renderGroups(clients: ReleaseClient[]): HTMLElement | null {
    const groups = new Map<string, Map<string, Record<Outcome, number>>>();
    for (const client of clients) {
      for (const [key, value] of Object.entries(client.labels)) {
        const byValue = groups.get(key) ?? new Map<string, Record<Outcome, number>>();
        groups.set(key, byValue);
        const counts = byValue.get(value) ?? { applied: 0, rejected: 0, pending: 0 };
        byValue.set(value, counts);
        counts[outcomeOf(client)] += 1;
      }
    }
    if (groups.size === 0) return null;
    const rows: HTMLElement[] = [];
    for (const key of [...groups.keys()].sort()) {
      const byValue = groups.get(key) ?? new Map<string, Record<Outcome, number>>();
      for (const value of [...byValue.keys()].sort()) {
        const counts = byValue.get(value) ?? { applied: 0, rejected: 0, pending: 0 };
        const text = OUTCOMES.filter((o) => counts[o] > 0).map((o) => `${counts[o]} ${o}`).join(", ");
        rows.push(
          h(
            "tr",
            { class: "label-group", "data-label": `${key}=${value}`, ...Object.fromEntries(OUTCOMES.map((o) => [`data-${o}`, String(counts[o])])) },
            h("td", { class: "key" }, `${key}=${value}`),
            h("td", {}, text),
          ),
        );
      }
    }
    return h(
      "section",
      { class: "release-groups" },
      h("h4", {}, "By label"),
      h("table", { class: "doc", id: "release-groups" }, h("tbody", {}, rows)),
    );
  }

  private renderRejections(clients: ReleaseClient[]): HTMLElement | null {
    const rejected = clients.filter((c) => c.outcome === AckOutcome.REJECTED);
    if (rejected.length === 0) return null;
    return h(
      "section",
      { class: "release-rejections" },
      h("h4", {}, "Rejections"),
      h(
        "ul",
        { id: "release-rejections", class: "violations" },
        rejected.map((c) =>
          h(
            "li",
            { class: "rejection violation", "data-client": c.clientId },
            h("code", {}, c.clientId),
            c.revision ? ` (r${c.revision})` : "",
            ": ",
            c.reason || "(no reason given)",
          ),
        ),
      ),
    );
  }

  private renderClients(clients: ReleaseClient[]): HTMLElement {
    const rows = [...clients]
      .sort((a, b) => a.clientId.localeCompare(b.clientId))
      .map((c) =>
        h(
          "tr",
          { class: "release-client", "data-client": c.clientId, "data-outcome": outcomeOf(c) },
          h("td", { class: "key" }, c.clientId),
          h("td", {}, Object.entries(c.labels).sort().map(([k, v]) => `${k}=${v}`).join(", ")),
          h("td", {}, c.replica),
          h("td", { class: `outcome outcome-${outcomeOf(c)}` }, outcomeOf(c), c.revision ? ` r${c.revision}` : ""),
          h("td", {}, c.connected ? "connected" : "gone"),
        ),
      );
    return h(
      "section",
      { class: "release-clients" },
      h("h4", {}, `Targeted clients (${clients.length})`),
      rows.length
        ? h(
            "table",
            { class: "doc", id: "release-clients" },
            h("thead", {}, h("tr", {}, ["client", "labels", "replica", "outcome", "watch"].map((t) => h("th", {}, t)))),
            h("tbody", {}, rows),
          )
        : h("p", { class: "hint" }, "No client is in the slice."),
    );
  }

  private renderChanges(release: Release): HTMLElement {
    const rows = release.changes.map((c) =>
      h(
        "tr",
        { "data-key": c.key },
        h("td", { class: "key" }, c.key),
        h("td", { class: "old" }, c.oldValueJson === undefined ? h("em", {}, "absent") : longText(c.oldValueJson)),
        h("td", { class: "new" }, c.newValueJson === undefined ? h("em", {}, "removed") : longText(c.newValueJson)),
      ),
    );
    return h(
      "section",
      { class: "release-changes" },
      h("h4", {}, "What the slice applies"),
      h(
        "table",
        { class: "diff" },
        h("thead", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "document"), h("th", {}, "staged"))),
        h("tbody", {}, rows),
      ),
    );
  }
}

function stateName(state: ReleaseState): string {
  return (ReleaseState[state] ?? "UNSPECIFIED").toLowerCase();
}

function formatTime(time: Timestamp | undefined): string {
  return time ? timestampDate(time).toISOString().replace("T", " ").slice(0, 19) + "Z" : "";
}
