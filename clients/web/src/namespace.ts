// One namespace's page: its document (edit one value or the whole text), schema, history with
// diffs and rollback, its release, kept current by a live Watch.

import { create } from "@bufbuild/protobuf";
import { Code, type ApiError, type ConfigClient, describeError, NETWORK_REASON, type ReleaseApi, type Violation } from "./api";
import { clear, h, messageNodes } from "./dom";
import {
  type ChangeSet,
  PreconditionSchema,
  type Snapshot,
  WriteKind,
} from "./gen/configd/v1/config_pb";
import { compact, jsonError, joinObject, pointerKey, pretty, splitObject } from "./jsontext";
import { describeChange, forSliceOnly, renderEntry } from "./history";
import { LiveWatch, type LiveState } from "./live";
import { longText } from "./longtext";
import { ReleasePanel } from "./release";

type Tab = "document" | "json" | "schema" | "history" | "release";

// Where the violations of a rejected new key are kept (no key can be this string).
const NEW_ROW = "\u0000new";

export interface PageHooks {
  onLiveState(state: LiveState): void;
  onNamespacesChanged(): void;
  /** The namespace has `keys` keys as of its revision `revision`. */
  onKeyCount(keys: number, revision: bigint): void;
}

export class NamespacePage {
  readonly root: HTMLElement;
  private values = new Map<string, string>();
  private docRevision = 0n; // the revision the displayed document is at
  private nsRevision = 0n; // the namespace's last write
  private schemaVersion = 0n;
  private editing = new Map<string, HTMLTextAreaElement>();
  private rowViolations = new Map<string, Violation[]>();
  private tab: Tab = "document";
  private live: LiveWatch | null = null;
  private editorBaseRevision = 0n;
  private closed = false;
  private pendingReload = 0;
  private expanded = new Set<string>(); // keys whose long value is shown whole
  private errorReason = ""; // the shown error's reason (a network failure clears on reconnect)
  // A message about one write is true until the namespace moves past it, and only on its tab.
  private noticeRevision = 0n;
  private editorResultRevision = 0n;

  private readonly header = h("div", { class: "ns-header" });
  private readonly message = h("input", {
    id: "publish-message",
    type: "text",
    placeholder: "change message (recorded in history)",
    "aria-label": "change message",
  });
  private readonly errorBox = h("div", { id: "ns-error", class: "error", role: "alert", hidden: true });
  private readonly notice = h("div", { id: "ns-notice", class: "notice", role: "status", hidden: true });
  private readonly table = h("table", { id: "doc-table", class: "doc" });
  private readonly liveLog = h("ol", { id: "live-log", class: "live-log" });
  // Kept across renders, so what the user typed survives a refusal or a live change.
  private readonly newKey = h("input", { type: "text", id: "new-key", placeholder: "new key", "aria-label": "new key" });
  private readonly newValue = h("textarea", {
    id: "new-value",
    rows: 1,
    spellcheck: "false",
    placeholder: "JSON value, e.g. 42 or \"text\"",
    "aria-label": "new value",
  });
  private readonly editor = h("textarea", {
    id: "doc-editor",
    spellcheck: "false",
    rows: 18,
    "aria-label": "whole document (JSON)",
  });
  private readonly editorViolations = h("ul", { id: "doc-violations", class: "violations" });
  private readonly editorResult = h("div", { id: "doc-result", class: "result" });
  private readonly schemaView = h("pre", { id: "schema-view", class: "json" });
  private readonly historyList = h("ol", { id: "history-list", class: "history" });
  private historyToken = "";
  private readonly sections: Record<Tab, HTMLElement>;
  private readonly tabButtons: Record<Tab, HTMLButtonElement>;
  private readonly release: ReleasePanel;

  constructor(
    private readonly client: ConfigClient,
    releases: ReleaseApi,
    readonly name: string,
    private readonly hooks: PageHooks,
  ) {
    const tabs: [Tab, string][] = [
      ["document", "Document"],
      ["json", "Edit whole document"],
      ["schema", "Schema"],
      ["history", "History"],
      ["release", "Release"],
    ];
    this.tabButtons = Object.fromEntries(
      tabs.map(([tab, label]) => [
        tab,
        h("button", { type: "button", role: "tab", class: "tab", "data-tab": tab, onclick: () => this.show(tab) }, label),
      ]),
    ) as Record<Tab, HTMLButtonElement>;
    this.release = new ReleasePanel(releases, name, {
      message: () => this.message.value,
      onError: (error) => this.showError(error),
      document: () => joinObject(this.values),
      onWritten: (notice, revision) => this.afterWrite(notice, revision),
      onRunning: (running) => {
        // Seen from every tab: while a release runs, direct writes are refused.
        this.tabButtons.release.classList.toggle("running", running);
        this.tabButtons.release.textContent = running ? "Release (running)" : "Release";
      },
      onMoved: () => void this.reload(),
    });
    this.sections = {
      document: h(
        "section",
        { class: "panel", "data-panel": "document" },
        this.table,
        h("h3", {}, "Live changes"),
        this.liveLog,
      ),
      json: h(
        "section",
        { class: "panel", "data-panel": "json", hidden: true },
        h("p", { class: "hint" }, "The whole document as JSON. Check validates against the schema without writing."),
        this.editor,
        h(
          "div",
          { class: "actions" },
          h("button", { type: "button", id: "doc-check", onclick: () => void this.applyDocument(true) }, "Check"),
          h("button", { type: "button", id: "doc-publish", class: "primary", onclick: () => void this.applyDocument(false) }, "Publish document"),
          h("button", { type: "button", id: "doc-reset", onclick: () => this.resetEditor() }, "Reset to current"),
        ),
        this.editorViolations,
        this.editorResult,
      ),
      schema: h("section", { class: "panel", "data-panel": "schema", hidden: true }, this.schemaView),
      history: h(
        "section",
        { class: "panel", "data-panel": "history", hidden: true },
        this.historyList,
        h("button", { type: "button", id: "history-more", hidden: true, onclick: () => void this.loadHistory(false) }, "Older…"),
      ),
      release: h("section", { class: "panel", "data-panel": "release", hidden: true }, this.release.root),
    };
    this.root = h(
      "div",
      { class: "namespace", "data-ns": name },
      this.header,
      h("nav", { class: "tabs", role: "tablist" }, Object.values(this.tabButtons)),
      h("div", { class: "publish-bar" }, h("label", { for: "publish-message" }, "Message"), this.message),
      this.errorBox,
      this.notice,
      Object.values(this.sections),
    );
    this.show("document");
  }

  async open(): Promise<void> {
    // Without a first view (not found, no access) there is nothing to keep live.
    if (!(await this.reload()) || this.closed) return;
    this.release.start();
    this.live = new LiveWatch(this.client, { namespaces: [this.name] }, this.docRevision, {
      onChange: (change) => {
        if (change.namespace === this.name) this.applyChange(change, true);
      },
      onSnapshot: (snapshot) => this.applySnapshot(snapshot),
      onState: (state) => {
        // Back online: an error that said "cannot reach configd" is no longer true.
        if (state.kind === "live" && this.errorReason === NETWORK_REASON) this.hideError();
        this.hooks.onLiveState(state);
      },
    });
  }

  /** Reconnect the live view now instead of waiting out the backoff. */
  reconnect(): void {
    this.live?.retryNow();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.pendingReload);
    this.release.stop();
    this.live?.stop();
    this.live = null;
  }

  /** Re-read the namespace (a consistent view at one revision); false if that failed. */
  async reload(): Promise<boolean> {
    try {
      const view = await this.client.getNamespace({ name: this.name });
      this.values = splitObject(view.documentJson);
      this.docRevision = view.revision;
      this.nsRevision = view.namespace?.modRevision ?? 0n;
      this.schemaVersion = view.namespace?.schemaVersion ?? 0n;
      this.hideError();
      this.render();
      if (!this.editor.value) this.resetEditor();
      return true;
    } catch (err) {
      this.showError(await describeError(err));
      return false;
    }
  }

  private show(tab: Tab): void {
    if (tab !== this.tab) this.hideNotice();
    this.tab = tab;
    for (const [name, section] of Object.entries(this.sections)) section.hidden = name !== tab;
    for (const [name, button] of Object.entries(this.tabButtons)) {
      button.classList.toggle("active", name === tab);
      button.setAttribute("aria-selected", String(name === tab));
    }
    if (tab === "schema") void this.loadSchema();
    if (tab === "history") void this.loadHistory(true);
    if (tab === "release") void this.release.refresh();
  }

  // -- live updates ---------------------------------------------------------------------------

  private applyChange(change: ChangeSet, fromWatch: boolean): void {
    if (change.revision <= this.docRevision) return;
    if (change.kind === WriteKind.DELETE_NAMESPACE) {
      this.showError({ code: Code.NotFound, codeName: "NOT_FOUND", reason: "", message: `namespace ${this.name} was deleted at r${change.revision}`, violations: [] });
      this.hooks.onNamespacesChanged();
    }
    // A release's start and abort change what its slice sees, not the namespace's document.
    if (!forSliceOnly(change)) {
      for (const kc of change.changes) {
        if (kc.newValueJson === undefined) this.values.delete(kc.key);
        else this.values.set(kc.key, compact(kc.newValueJson));
      }
    }
    this.docRevision = change.revision;
    this.nsRevision = change.revision;
    this.schemaVersion = change.schemaVersion || this.schemaVersion;
    this.dropStaleMessages();
    this.render(new Set(change.changes.map((c) => c.key)));
    if (fromWatch) this.logLive(change);
    if (this.tab === "history") void this.loadHistory(true);
    if (this.tab === "schema" && change.schemaJson !== undefined) void this.loadSchema();
    if (change.releaseId !== 0n) void this.release.refresh();
  }

  private applySnapshot(snapshot: Snapshot): void {
    const doc = snapshot.namespaces.find((n) => n.namespace?.name === this.name);
    if (doc === undefined) return;
    this.values = splitObject(doc.documentJson);
    this.docRevision = snapshot.revision;
    this.nsRevision = doc.namespace?.modRevision ?? this.nsRevision;
    this.dropStaleMessages();
    this.render();
    if (snapshot.resync) this.showNotice(`Resynchronised at r${snapshot.revision} (history before it was compacted).`, snapshot.revision);
  }

  private logLive(change: ChangeSet): void {
    const keys = change.changes.map((c) => c.key).join(", ");
    const item = h(
      "li",
      { class: "live-item", "data-revision": String(change.revision) },
      h("strong", {}, `r${change.revision}`),
      ` ${describeChange(change)}`,
      change.author ? ` by ${change.author}` : "",
      keys ? ` — ${keys}` : "",
      change.message ? h("q", {}, change.message) : null,
    );
    this.liveLog.prepend(item);
    while (this.liveLog.children.length > 20) this.liveLog.lastElementChild?.remove();
  }

  /** After our own write: the watch normally delivers it at once; if not, read it back. */
  private expectRevision(revision: bigint): void {
    clearTimeout(this.pendingReload);
    this.pendingReload = window.setTimeout(() => {
      if (this.docRevision < revision) void this.reload();
    }, 1500);
  }

  // -- document table -----------------------------------------------------------------------

  private render(changed: Set<string> = new Set()): void {
    // Rebuilding the table moves the inputs out and back: keep the user's caret where it was.
    const focused = document.activeElement;
    const caret =
      (focused instanceof HTMLInputElement || focused instanceof HTMLTextAreaElement) && this.table.contains(focused)
        ? { el: focused, start: focused.selectionStart, end: focused.selectionEnd }
        : null;
    clear(this.header);
    this.header.append(
      h("h2", { id: "ns-title" }, this.name),
      h(
        "span",
        { class: "meta", id: "ns-meta" },
        `namespace revision r${this.nsRevision} · schema v${this.schemaVersion} · ${this.values.size} keys · view at r${this.docRevision}`,
      ),
    );
    clear(this.table);
    this.table.append(
      h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Value (JSON)"), h("th", {}, ""))),
    );
    const body = h("tbody");
    const keys = [...new Set([...this.values.keys(), ...this.editing.keys()])].sort();
    for (const key of keys) body.append(this.renderRow(key, changed.has(key)));
    body.append(this.renderNewRow());
    this.table.append(body);
    if (caret && this.table.contains(caret.el)) {
      caret.el.focus();
      caret.el.setSelectionRange(caret.start, caret.end);
    }
    this.hooks.onKeyCount(this.values.size, this.nsRevision);
  }

  private renderRow(key: string, changed: boolean): HTMLTableRowElement {
    const value = this.values.get(key);
    const violations = this.rowViolations.get(key) ?? [];
    const editor = this.editing.get(key);
    const row = h("tr", { class: `key-row${changed ? " changed" : ""}`, "data-key": key });
    const keyCell = h("td", { class: "key" }, key);
    let valueCell: HTMLTableCellElement;
    let actions: HTMLTableCellElement;
    if (editor !== undefined) {
      if (value !== undefined && changed) {
        editor.title = "changed by someone else while you edit";
      }
      valueCell = h(
        "td",
        { class: "value editing" },
        editor,
        changed ? h("div", { class: "notice" }, "Changed meanwhile to ", value === undefined ? "(deleted)" : longText(value)) : null,
      );
      actions = h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "publish-btn primary", onclick: () => void this.publishValue(key) }, "Publish"),
        h("button", { type: "button", class: "cancel-btn", onclick: () => this.cancelEdit(key) }, "Cancel"),
      );
    } else {
      const shown =
        value === undefined
          ? h("code", {}, "(deleted)")
          : longText(value, this.expanded.has(key), (open) => {
              if (open) this.expanded.add(key);
              else this.expanded.delete(key);
            });
      valueCell = h("td", { class: "value" }, shown);
      actions = h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "edit-btn", onclick: () => this.startEdit(key) }, "Edit"),
        h("button", { type: "button", class: "delete-btn", onclick: (ev: Event) => void this.deleteKey(key, ev.currentTarget as HTMLButtonElement) }, "Delete"),
      );
    }
    if (violations.length > 0) {
      valueCell.append(
        h(
          "ul",
          { class: "violations" },
          violations.map((v) => h("li", { class: "violation", "data-path": v.path }, violationText(v))),
        ),
      );
    }
    row.append(keyCell, valueCell, actions);
    return row;
  }

  private renderNewRow(): HTMLTableRowElement {
    const violations = this.rowViolations.get(NEW_ROW) ?? [];
    return h(
      "tr",
      { class: "new-row" },
      h("td", {}, this.newKey),
      h(
        "td",
        {},
        this.newValue,
        violations.length
          ? h(
              "ul",
              { id: "new-violations", class: "violations" },
              violations.map((v) => h("li", { class: "violation", "data-path": v.path }, violationText(v))),
            )
          : null,
      ),
      h(
        "td",
        { class: "actions" },
        h("button", { type: "button", id: "new-add", onclick: () => void this.addKey() }, "Add"),
      ),
    );
  }

  /** Add the key typed in the new row; on a refusal both inputs keep what was typed. */
  private async addKey(): Promise<void> {
    const key = this.newKey.value.trim();
    const text = this.newValue.value.trim();
    const refuse = (message: string): void => {
      this.rowViolations.set(NEW_ROW, [{ path: key ? `/${key}` : "", keyword: "input", message }]);
      this.render();
    };
    if (!key) return refuse("enter a key name");
    if (this.values.has(key)) return refuse(`${key} exists already: use its Edit button`);
    const problem = text ? jsonError(text) : "empty";
    if (problem !== null) return refuse(`not valid JSON: ${problem} (put text in double quotes)`);
    this.hideNotice();
    try {
      const result = await this.client.put({ namespace: this.name, key, valueJson: compact(text), message: this.message.value });
      this.newKey.value = "";
      this.newValue.value = "";
      this.rowViolations.delete(NEW_ROW);
      this.afterWrite(`Added ${key} at r${result.revision}.`, result.revision);
      this.render();
    } catch (err) {
      this.reportWriteError(await describeError(err), key);
    }
  }

  private makeEditor(key: string, text: string): HTMLTextAreaElement {
    const rows = Math.min(12, Math.max(1, text.split("\n").length));
    return h("textarea", { class: "value-input", "data-key": key, rows, spellcheck: "false", value: text, "aria-label": `value of ${key}` });
  }

  private startEdit(key: string): void {
    const value = this.values.get(key) ?? "null";
    this.editing.set(key, this.makeEditor(key, pretty(value)));
    this.rowViolations.delete(key);
    this.render();
    this.editing.get(key)?.focus();
  }

  private cancelEdit(key: string): void {
    this.editing.delete(key);
    this.rowViolations.delete(key);
    this.render();
  }

  private async publishValue(key: string): Promise<void> {
    const editor = this.editing.get(key);
    if (editor === undefined) return;
    const text = editor.value.trim();
    const problem = jsonError(text);
    if (problem !== null) {
      this.rowViolations.set(key, [{ path: `/${key}`, keyword: "json", message: `not valid JSON: ${problem} (put text in double quotes)` }]);
      this.render();
      return;
    }
    this.hideNotice();
    try {
      const result = await this.client.put({ namespace: this.name, key, valueJson: compact(text), message: this.message.value });
      this.editing.delete(key);
      this.rowViolations.delete(key);
      this.afterWrite(`Published ${key} at r${result.revision}.`, result.revision);
      this.render();
    } catch (err) {
      this.reportWriteError(await describeError(err), key);
    }
  }

  private async deleteKey(key: string, button: HTMLButtonElement): Promise<void> {
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = `Really delete ${key}?`;
      return;
    }
    this.hideNotice();
    try {
      const result = await this.client.delete({ namespace: this.name, key, message: this.message.value });
      this.afterWrite(`Deleted ${key} at r${result.revision}.`, result.revision);
    } catch (err) {
      this.reportWriteError(await describeError(err), key);
    }
  }

  /**
   * Violations go next to the key they point into; for a new key, also those about the whole
   * document (e.g. additionalProperties), which only the new key can have caused. The rest go
   * above the table, with the error's message.
   */
  private reportWriteError(error: ApiError, editedKey: string | null): void {
    this.rowViolations.clear();
    const isNew = editedKey !== null && !this.values.has(editedKey) && !this.editing.has(editedKey);
    const general: Violation[] = [];
    const place = (slot: string, v: Violation): void => {
      this.rowViolations.set(slot, [...(this.rowViolations.get(slot) ?? []), v]);
    };
    for (const v of error.violations) {
      const key = pointerKey(v.path);
      if (isNew && (key === editedKey || key === null)) place(NEW_ROW, v);
      else if (key !== null && (this.values.has(key) || this.editing.has(key))) place(key, v);
      else general.push(v);
    }
    if (general.length > 0 || error.violations.length === 0) this.showError({ ...error, violations: general });
    else this.hideError();
    this.render();
  }

  // -- whole document -------------------------------------------------------------------------

  private resetEditor(): void {
    this.editor.value = pretty(joinObject(this.values));
    this.editorBaseRevision = this.nsRevision;
    clear(this.editorViolations);
    clear(this.editorResult);
  }

  private async applyDocument(dryRun: boolean): Promise<void> {
    clear(this.editorViolations);
    clear(this.editorResult);
    const text = this.editor.value.trim();
    const problem = jsonError(text);
    if (problem !== null) {
      this.editorViolations.append(h("li", { class: "violation", "data-path": "" }, `not valid JSON: ${problem}`));
      return;
    }
    try {
      const preconditions = this.editorBaseRevision > 0n && !dryRun
        ? [create(PreconditionSchema, { condition: { case: "namespaceRevision", value: this.editorBaseRevision } })]
        : [];
      const result = await this.client.apply({
        namespace: this.name,
        documentJson: compact(text),
        message: this.message.value,
        dryRun,
        preconditions,
      });
      const violations: Violation[] = result.violations.map((v) => ({ path: v.path, keyword: v.keyword, message: v.message }));
      for (const v of violations) {
        this.editorViolations.append(h("li", { class: "violation", "data-path": v.path }, `${v.path || "(document)"}: ${violationText(v)}`));
      }
      const changes = result.changes.map((c) =>
        h(
          "li",
          {},
          h("code", {}, c.key),
          ": ",
          c.oldValueJson === undefined ? "(absent)" : longText(c.oldValueJson),
          " → ",
          c.newValueJson === undefined ? "(removed)" : longText(c.newValueJson),
        ),
      );
      if (dryRun) {
        this.editorResult.append(
          h("p", {}, result.valid ? "Valid." : "Not valid.", ` ${result.changes.length} key(s) would change.`),
          h("ul", { class: "diff" }, changes),
        );
        this.editorResultRevision = this.nsRevision;
      } else {
        this.editorResult.append(h("p", {}, result.revision ? `Published at r${result.revision}.` : "No change."));
        this.editorResultRevision = result.revision || this.nsRevision;
        if (result.revision) {
          this.editorBaseRevision = result.revision;
          this.afterWrite(null, result.revision);
        }
      }
      this.hideError();
    } catch (err) {
      const error = await describeError(err);
      for (const v of error.violations) {
        this.editorViolations.append(h("li", { class: "violation", "data-path": v.path }, `${v.path || "(document)"}: ${violationText(v)}`));
      }
      if (error.code === Code.FailedPrecondition) {
        error.message = `${error.message}\nSomeone changed ${this.name} since you started editing: Reset to current, then edit again.`;
      }
      this.reportWriteError(error, null);
    }
  }

  // -- schema and history ---------------------------------------------------------------------

  private async loadSchema(): Promise<void> {
    try {
      const schema = await this.client.getSchema({ name: this.name });
      this.schemaView.textContent = pretty(schema.schemaJson || "{}");
      this.schemaView.dataset.version = String(schema.version);
    } catch (err) {
      this.showError(await describeError(err));
    }
  }

  private async loadHistory(fresh: boolean): Promise<void> {
    try {
      const page = await this.client.history({ namespace: this.name, pageSize: 20, pageToken: fresh ? "" : this.historyToken });
      if (fresh) clear(this.historyList);
      for (const entry of page.entries) {
        this.historyList.append(renderEntry(entry, (revision, button) => void this.rollback(revision, button)));
      }
      this.historyToken = page.nextPageToken;
      const more = this.sections.history.querySelector<HTMLButtonElement>("#history-more");
      if (more) more.hidden = !page.nextPageToken;
    } catch (err) {
      this.showError(await describeError(err));
    }
  }

  private async rollback(revision: bigint, button: HTMLButtonElement): Promise<void> {
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = `Confirm: restore the document of r${revision}`;
      return;
    }
    this.hideNotice();
    try {
      const result = await this.client.rollback({
        namespace: this.name,
        toRevision: revision,
        message: this.message.value || `rollback to r${revision} from the console`,
      });
      this.afterWrite(`Rolled back to r${revision}: new revision r${result.revision}.`, result.revision);
      void this.loadHistory(true);
    } catch (err) {
      this.showError(await describeError(err));
    }
  }

  // -- messages -------------------------------------------------------------------------------

  private showError(error: ApiError): void {
    // A write refused because a release runs: the Release tab should say so now.
    if (error.reason === "RELEASE_RUNNING") void this.release.refresh();
    clear(this.errorBox);
    this.errorBox.append(
      h("strong", {}, error.codeName),
      " ",
      h("span", { class: "message" }, messageNodes(error.message)),
      error.violations.length
        ? h("ul", { class: "violations" }, error.violations.map((v) => h("li", { class: "violation", "data-path": v.path }, `${v.path || "(document)"}: ${violationText(v)}`)))
        : "",
    );
    this.errorReason = error.reason;
    this.errorBox.dataset.reason = error.reason;
    this.errorBox.hidden = false;
  }

  private hideError(): void {
    this.errorBox.hidden = true;
    this.errorReason = "";
    delete this.errorBox.dataset.reason;
    clear(this.errorBox);
  }

  /** A write of ours committed at `revision`: say so, clear the error and the used message. */
  private afterWrite(notice: string | null, revision: bigint): void {
    this.hideError();
    this.message.value = "";
    if (notice !== null) this.showNotice(notice, revision);
    this.expectRevision(revision);
  }

  /** Show `text`, true of the namespace at `revision`, until it moves on or the tab changes. */
  private showNotice(text: string, revision: bigint): void {
    this.notice.textContent = text;
    this.noticeRevision = revision;
    this.notice.hidden = false;
  }

  private hideNotice(): void {
    this.notice.hidden = true;
    this.notice.textContent = "";
  }

  /** Messages about an earlier revision no longer describe the namespace. */
  private dropStaleMessages(): void {
    if (!this.notice.hidden && this.nsRevision > this.noticeRevision) this.hideNotice();
    if (this.nsRevision > this.editorResultRevision) clear(this.editorResult);
  }
}

function violationText(v: Violation): string {
  return v.keyword && !v.message.includes(v.keyword) ? `${v.message} (${v.keyword})` : v.message;
}
