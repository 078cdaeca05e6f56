// One namespace's page: its document (edit one value or the whole text), schema, history with
// diffs and rollback, kept current by a live Watch.

import { create } from "@bufbuild/protobuf";
import { Code, type ApiError, type ConfigClient, type Violation, toApiError } from "./api";
import { clear, h } from "./dom";
import {
  type ChangeSet,
  PreconditionSchema,
  type Snapshot,
  WriteKind,
} from "./gen/configd/v1/config_pb";
import { compact, jsonError, joinObject, pointerKey, pretty, splitObject } from "./jsontext";
import { kindName, renderEntry } from "./history";
import { LiveWatch, type LiveState } from "./live";

type Tab = "document" | "json" | "schema" | "history";

export interface PageHooks {
  onLiveState(state: LiveState): void;
  onNamespacesChanged(): void;
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

  constructor(
    private readonly client: ConfigClient,
    readonly name: string,
    private readonly hooks: PageHooks,
  ) {
    const tabs: [Tab, string][] = [
      ["document", "Document"],
      ["json", "Edit whole document"],
      ["schema", "Schema"],
      ["history", "History"],
    ];
    this.tabButtons = Object.fromEntries(
      tabs.map(([tab, label]) => [
        tab,
        h("button", { type: "button", class: "tab", "data-tab": tab, onclick: () => this.show(tab) }, label),
      ]),
    ) as Record<Tab, HTMLButtonElement>;
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
  }

  async open(): Promise<void> {
    // Without a first view (not found, no access) there is nothing to keep live.
    if (!(await this.reload()) || this.closed) return;
    this.live = new LiveWatch(this.client, this.name, this.docRevision, {
      onChange: (change) => this.applyChange(change, true),
      onSnapshot: (snapshot) => this.applySnapshot(snapshot),
      onState: (state) => this.hooks.onLiveState(state),
    });
  }

  /** Reconnect the live view now instead of waiting out the backoff. */
  reconnect(): void {
    this.live?.retryNow();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.pendingReload);
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
      this.showError(toApiError(err));
      return false;
    }
  }

  private show(tab: Tab): void {
    this.tab = tab;
    for (const [name, section] of Object.entries(this.sections)) section.hidden = name !== tab;
    for (const [name, button] of Object.entries(this.tabButtons)) {
      button.classList.toggle("active", name === tab);
      button.setAttribute("aria-selected", String(name === tab));
    }
    if (tab === "schema") void this.loadSchema();
    if (tab === "history") void this.loadHistory(true);
  }

  // -- live updates ---------------------------------------------------------------------------

  private applyChange(change: ChangeSet, fromWatch: boolean): void {
    if (change.revision <= this.docRevision) return;
    if (change.kind === WriteKind.DELETE_NAMESPACE) {
      this.showError({ code: Code.NotFound, codeName: "NOT_FOUND", reason: "", message: `namespace ${this.name} was deleted at r${change.revision}`, violations: [] });
      this.hooks.onNamespacesChanged();
    }
    for (const kc of change.changes) {
      if (kc.newValueJson === undefined) this.values.delete(kc.key);
      else this.values.set(kc.key, compact(kc.newValueJson));
    }
    this.docRevision = change.revision;
    this.nsRevision = change.revision;
    this.schemaVersion = change.schemaVersion || this.schemaVersion;
    this.render(new Set(change.changes.map((c) => c.key)));
    if (fromWatch) this.logLive(change);
    if (this.tab === "history") void this.loadHistory(true);
    if (this.tab === "schema" && change.schemaJson !== undefined) void this.loadSchema();
  }

  private applySnapshot(snapshot: Snapshot): void {
    const doc = snapshot.namespaces.find((n) => n.namespace?.name === this.name);
    if (doc === undefined) return;
    this.values = splitObject(doc.documentJson);
    this.docRevision = snapshot.revision;
    this.nsRevision = doc.namespace?.modRevision ?? this.nsRevision;
    this.render();
    if (snapshot.resync) this.showNotice(`Resynchronised at r${snapshot.revision} (history before it was compacted).`);
  }

  private logLive(change: ChangeSet): void {
    const keys = change.changes.map((c) => c.key).join(", ");
    const item = h(
      "li",
      { class: "live-item", "data-revision": String(change.revision) },
      h("strong", {}, `r${change.revision}`),
      ` ${kindName(change.kind)}`,
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
        changed ? h("div", { class: "notice" }, `Changed meanwhile to ${value ?? "(deleted)"}`) : null,
      );
      actions = h(
        "td",
        { class: "actions" },
        h("button", { type: "button", class: "publish-btn primary", onclick: () => void this.publishValue(key) }, "Publish"),
        h("button", { type: "button", class: "cancel-btn", onclick: () => this.cancelEdit(key) }, "Cancel"),
      );
    } else {
      valueCell = h("td", { class: "value" }, h("code", {}, value ?? "(deleted)"));
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
    const keyInput = h("input", { type: "text", id: "new-key", placeholder: "new key", "aria-label": "new key" });
    const valueInput = h("textarea", { id: "new-value", rows: 1, placeholder: "JSON value, e.g. 42 or \"text\"", "aria-label": "new value" });
    const violations = this.rowViolations.get("\u0000new") ?? [];
    return h(
      "tr",
      { class: "new-row" },
      h("td", {}, keyInput),
      h(
        "td",
        {},
        valueInput,
        violations.length
          ? h("ul", { class: "violations" }, violations.map((v) => h("li", { class: "violation" }, violationText(v))))
          : null,
      ),
      h(
        "td",
        { class: "actions" },
        h(
          "button",
          {
            type: "button",
            id: "new-add",
            onclick: () => {
              const key = keyInput.value.trim();
              if (!key) return;
              const editor = this.makeEditor(key, valueInput.value);
              this.editing.set(key, editor);
              void this.publishValue(key);
            },
          },
          "Add",
        ),
      ),
    );
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
    try {
      const result = await this.client.put({ namespace: this.name, key, valueJson: compact(text), message: this.message.value });
      this.editing.delete(key);
      this.rowViolations.delete(key);
      this.rowViolations.delete("\u0000new");
      this.hideError();
      this.showNotice(`Published ${key} at r${result.revision}.`);
      this.expectRevision(result.revision);
      this.render();
      if (!this.values.has(key)) this.hooks.onNamespacesChanged();
    } catch (err) {
      this.reportWriteError(toApiError(err), key);
    }
  }

  private async deleteKey(key: string, button: HTMLButtonElement): Promise<void> {
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = `Really delete ${key}?`;
      return;
    }
    try {
      const result = await this.client.delete({ namespace: this.name, key, message: this.message.value });
      this.showNotice(`Deleted ${key} at r${result.revision}.`);
      this.expectRevision(result.revision);
    } catch (err) {
      this.reportWriteError(toApiError(err), key);
    }
  }

  /** Violations go next to the key they point into; the rest (e.g. `required`) above the table. */
  private reportWriteError(error: ApiError, editedKey: string | null): void {
    for (const key of [...this.rowViolations.keys()]) this.rowViolations.delete(key);
    const general: Violation[] = [];
    for (const v of error.violations) {
      const key = pointerKey(v.path);
      if (key !== null && (this.values.has(key) || this.editing.has(key))) {
        this.rowViolations.set(key, [...(this.rowViolations.get(key) ?? []), v]);
      } else if (editedKey !== null && !this.values.has(editedKey) && key === editedKey) {
        this.rowViolations.set("\u0000new", [...(this.rowViolations.get("\u0000new") ?? []), v]);
      } else {
        general.push(v);
      }
    }
    if (editedKey !== null && !this.values.has(editedKey)) {
      // A rejected new key: keep it in the "new" row, not as an editing row.
      this.editing.delete(editedKey);
      const moved = this.rowViolations.get(editedKey);
      if (moved) {
        this.rowViolations.set("\u0000new", [...(this.rowViolations.get("\u0000new") ?? []), ...moved]);
        this.rowViolations.delete(editedKey);
      }
    }
    this.showError({ ...error, violations: general });
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
        h("li", {}, h("code", {}, c.key), ": ", c.oldValueJson ?? "(absent)", " → ", c.newValueJson ?? "(removed)"),
      );
      if (dryRun) {
        this.editorResult.append(
          h("p", {}, result.valid ? "Valid." : "Not valid.", ` ${result.changes.length} key(s) would change.`),
          h("ul", { class: "diff" }, changes),
        );
      } else {
        this.editorResult.append(h("p", {}, result.revision ? `Published at r${result.revision}.` : "No change."));
        if (result.revision) {
          this.editorBaseRevision = result.revision;
          this.expectRevision(result.revision);
        }
      }
      this.hideError();
    } catch (err) {
      const error = toApiError(err);
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
      this.showError(toApiError(err));
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
      this.showError(toApiError(err));
    }
  }

  private async rollback(revision: bigint, button: HTMLButtonElement): Promise<void> {
    if (button.dataset.confirm !== "yes") {
      button.dataset.confirm = "yes";
      button.textContent = `Confirm: restore the document of r${revision}`;
      return;
    }
    try {
      const result = await this.client.rollback({
        namespace: this.name,
        toRevision: revision,
        message: this.message.value || `rollback to r${revision} from the console`,
      });
      this.showNotice(`Rolled back to r${revision}: new revision r${result.revision}.`);
      this.expectRevision(result.revision);
      void this.loadHistory(true);
    } catch (err) {
      this.showError(toApiError(err));
    }
  }

  // -- messages -------------------------------------------------------------------------------

  private showError(error: ApiError): void {
    clear(this.errorBox);
    this.errorBox.append(
      h("strong", {}, error.codeName),
      " ",
      h("span", { class: "message" }, error.message),
      error.violations.length
        ? h("ul", { class: "violations" }, error.violations.map((v) => h("li", { class: "violation", "data-path": v.path }, `${v.path || "(document)"}: ${violationText(v)}`)))
        : "",
    );
    this.errorBox.hidden = false;
  }

  private hideError(): void {
    this.errorBox.hidden = true;
    clear(this.errorBox);
  }

  private showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = false;
  }
}

function violationText(v: Violation): string {
  return v.keyword && !v.message.includes(v.keyword) ? `${v.message} (${v.keyword})` : v.message;
}
