// The console's shell: token entry, connection status, namespace list and filter, routing
// (#/ns/<name>) to one namespace's page. The list's key counts follow a Watch of every
// namespace (or, for a token that may not watch them all, the open namespace's own Watch).

import {
  apiBaseUrl,
  describeError,
  getToken,
  makeClient,
  makeReleaseClient,
  NETWORK_REASON,
  setToken,
  type ConfigClient,
  type ReleaseApi,
} from "./api";
import { byId, clear, h, messageNodes } from "./dom";
import { type ChangeSet, type NamespaceInfo, WriteKind } from "./gen/configd/v1/config_pb";
import { LiveWatch, type LiveState } from "./live";
import { NamespacePage } from "./namespace";

const MAX_LISTED = 5000;
const LIST_RETRY_MS = 5_000;

class Console {
  private readonly client: ConfigClient;
  private readonly releases: ReleaseApi;
  private namespaces: NamespaceInfo[] = [];
  private page: NamespacePage | null = null;
  private readonly list = byId<HTMLUListElement>("ns-list");
  private readonly filter = byId<HTMLInputElement>("ns-filter");
  private readonly content = byId("content");
  private readonly status = byId("conn-status");
  private readonly banner = byId("banner");
  private readonly bannerText = byId("banner-text");
  private readonly listError = byId("ns-list-error");
  private listWatch: LiveWatch | null = null;
  private listRetry = 0;
  private refreshing = false;

  constructor(baseUrl: string) {
    this.client = makeClient(baseUrl);
    this.releases = makeReleaseClient(baseUrl);
    byId("api-url").textContent = baseUrl;
    const tokenInput = byId<HTMLInputElement>("token-input");
    tokenInput.value = getToken();
    byId<HTMLFormElement>("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      setToken(tokenInput.value.trim());
      void this.refresh();
      this.route();
    });
    this.filter.addEventListener("input", () => this.renderList());
    byId("ns-refresh").addEventListener("click", () => void this.refresh());
    window.addEventListener("hashchange", () => this.route());
    byId("reconnect-now").addEventListener("click", () => this.page?.reconnect());
    window.addEventListener("online", () => {
      this.page?.reconnect();
      this.refreshIfDisconnected();
    });
    this.setLiveState({ kind: "stopped" });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.route();
  }

  /** After a reconnect: a list that failed for want of a connection is read again (once). */
  private refreshIfDisconnected(): void {
    if (!this.refreshing && this.listError.dataset.reason === NETWORK_REASON) void this.refresh();
  }

  async refresh(): Promise<void> {
    this.refreshing = true;
    try {
      await this.readList();
    } finally {
      this.refreshing = false;
    }
  }

  private async readList(): Promise<void> {
    const all: NamespaceInfo[] = [];
    let pageToken = "";
    let revision = -1n;
    clearTimeout(this.listRetry);
    try {
      do {
        const page = await this.client.listNamespaces({ pageToken });
        if (revision < 0n) revision = page.revision;
        all.push(...page.namespaces);
        pageToken = page.nextPageToken;
      } while (pageToken && all.length < MAX_LISTED);
      this.namespaces = all;
      this.listError.hidden = true;
      delete this.listError.dataset.reason;
      this.watchList(revision);
    } catch (err) {
      const error = await describeError(err);
      this.listError.replaceChildren(`${error.codeName}: `, ...messageNodes(error.message));
      this.listError.dataset.reason = error.reason;
      this.listError.hidden = false;
      // Unreachable now, maybe not in a moment: try again (a reconnected page also refreshes).
      if (error.reason === NETWORK_REASON) this.listRetry = window.setTimeout(() => void this.refresh(), LIST_RETRY_MS);
    }
    this.renderList();
  }

  /** Keep the list current from `revision` on (a new watch replaces the old one). */
  private watchList(revision: bigint): void {
    this.listWatch?.stop();
    this.listWatch = new LiveWatch(this.client, { prefixes: [""] }, revision, {
      onChange: (change) => this.applyListChange(change),
      onSnapshot: () => void this.refresh(),
      onState: (state) => {
        if (state.kind === "live") this.refreshIfDisconnected();
      },
      // A token limited to some prefixes may not watch them all: the open page still reports.
      onRefused: () => {
        this.listWatch = null;
      },
    });
  }

  private applyListChange(change: ChangeSet): void {
    if (change.kind === WriteKind.CREATE_NAMESPACE || change.kind === WriteKind.DELETE_NAMESPACE) {
      void this.refresh();
      return;
    }
    const info = this.namespaces.find((ns) => ns.name === change.namespace);
    // The list already counts writes up to the namespace's mod_revision.
    if (info === undefined || change.revision <= info.modRevision) return;
    for (const kc of change.changes) {
      if (kc.oldValueJson === undefined && kc.newValueJson !== undefined) info.keyCount += 1n;
      else if (kc.oldValueJson !== undefined && kc.newValueJson === undefined) info.keyCount -= 1n;
    }
    info.modRevision = change.revision;
    this.showCount(info);
  }

  /** The open page's own count, as of its namespace revision `revision`. */
  private setCount(name: string, keys: number, revision: bigint): void {
    const info = this.namespaces.find((ns) => ns.name === name);
    if (info === undefined || revision < info.modRevision) return;
    info.keyCount = BigInt(keys);
    info.modRevision = revision;
    this.showCount(info);
  }

  private showCount(info: NamespaceInfo): void {
    const item = this.list.querySelector(`.ns-item[data-ns="${CSS.escape(info.name)}"] .count`);
    if (item) item.textContent = String(info.keyCount);
  }

  private renderList(): void {
    const needle = this.filter.value.trim().toLowerCase();
    const current = this.page?.name;
    clear(this.list);
    const shown = this.namespaces.filter((ns) => ns.name.includes(needle));
    for (const ns of shown) {
      this.list.append(
        h(
          "li",
          {},
          h(
            "a",
            {
              class: `ns-item${ns.name === current ? " current" : ""}`,
              href: `#/ns/${encodeURIComponent(ns.name)}`,
              "data-ns": ns.name,
            },
            h("span", { class: "name" }, ns.name),
            h("span", { class: "count" }, String(ns.keyCount)),
          ),
        ),
      );
    }
    byId("ns-count").textContent = `${shown.length} of ${this.namespaces.length}`;
  }

  private route(): void {
    const match = /^#\/ns\/(.+)$/.exec(window.location.hash);
    const name = match ? decodeURIComponent(match[1]) : null;
    this.page?.close();
    this.page = null;
    clear(this.content);
    if (name === null) {
      this.setLiveState({ kind: "stopped" });
      this.content.append(h("p", { class: "hint" }, "Select a namespace on the left."));
    } else {
      const page = new NamespacePage(this.client, this.releases, name, {
        onLiveState: (state) => {
          if (this.page === page) this.setLiveState(state);
        },
        onNamespacesChanged: () => void this.refresh(),
        onKeyCount: (keys, revision) => this.setCount(name, keys, revision),
      });
      this.page = page;
      this.content.append(page.root);
      void page.open();
    }
    this.renderList();
  }

  private setLiveState(state: LiveState): void {
    if (state.kind === "live") this.refreshIfDisconnected();
    this.status.dataset.state = state.kind;
    this.banner.hidden = state.kind !== "reconnecting";
    switch (state.kind) {
      case "stopped":
        this.status.textContent = "not watching";
        break;
      case "connecting":
        this.status.textContent = `connecting… (from r${state.from})`;
        break;
      case "live":
        this.status.textContent = `live · r${state.revision}`;
        break;
      case "reconnecting": {
        const seconds = Math.max(1, Math.round(state.inMs / 1000));
        this.status.textContent = "disconnected, reconnecting…";
        this.bannerText.replaceChildren(
          "Disconnected: ",
          ...messageNodes(state.reason),
          `. Reconnecting in ${seconds}s and resuming from r${state.from}; changes made meanwhile will appear.`,
        );
        break;
      }
    }
  }
}

void new Console(apiBaseUrl()).start();
