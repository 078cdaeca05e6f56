// The console's shell: token entry, connection status, namespace list and filter, routing
// (#/ns/<name>) to one namespace's page.

import { apiBaseUrl, getToken, makeClient, setToken, toApiError, type ConfigClient } from "./api";
import { byId, clear, h } from "./dom";
import type { NamespaceInfo } from "./gen/configd/v1/config_pb";
import type { LiveState } from "./live";
import { NamespacePage } from "./namespace";

const MAX_LISTED = 5000;

class Console {
  private readonly client: ConfigClient;
  private namespaces: NamespaceInfo[] = [];
  private page: NamespacePage | null = null;
  private readonly list = byId<HTMLUListElement>("ns-list");
  private readonly filter = byId<HTMLInputElement>("ns-filter");
  private readonly content = byId("content");
  private readonly status = byId("conn-status");
  private readonly banner = byId("banner");
  private readonly bannerText = byId("banner-text");
  private readonly listError = byId("ns-list-error");

  constructor(baseUrl: string) {
    this.client = makeClient(baseUrl);
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
    window.addEventListener("online", () => this.page?.reconnect());
    this.setLiveState({ kind: "stopped" });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.route();
  }

  async refresh(): Promise<void> {
    const all: NamespaceInfo[] = [];
    let pageToken = "";
    try {
      do {
        const page = await this.client.listNamespaces({ pageToken });
        all.push(...page.namespaces);
        pageToken = page.nextPageToken;
      } while (pageToken && all.length < MAX_LISTED);
      this.namespaces = all;
      this.listError.hidden = true;
    } catch (err) {
      const error = toApiError(err);
      this.listError.textContent = `${error.codeName}: ${error.message}`;
      this.listError.hidden = false;
    }
    this.renderList();
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
      const page = new NamespacePage(this.client, name, {
        onLiveState: (state) => {
          if (this.page === page) this.setLiveState(state);
        },
        onNamespacesChanged: () => void this.refresh(),
      });
      this.page = page;
      this.content.append(page.root);
      void page.open();
    }
    this.renderList();
  }

  private setLiveState(state: LiveState): void {
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
        this.bannerText.textContent = `Disconnected from configd (${state.reason}). Reconnecting in ${seconds}s and resuming from r${state.from}; changes made meanwhile will appear.`;
        break;
      }
    }
  }
}

void new Console(apiBaseUrl()).start();
