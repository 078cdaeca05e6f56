// History: one entry per revision with the changed keys' before and after, and rollback.

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { h } from "./dom";
import { longText } from "./longtext";
import { type ChangeSet, WriteKind } from "./gen/configd/v1/config_pb";

export function kindName(kind: WriteKind): string {
  return (WriteKind[kind] ?? "UNKNOWN").replace(/^WRITE_KIND_/, "").replace(/_/g, " ").toLowerCase();
}

export function formatTime(change: ChangeSet): string {
  return change.time ? timestampDate(change.time).toISOString().replace("T", " ").slice(0, 19) + "Z" : "";
}

/** One history entry: who, when, why, a before/after row per key, and a rollback button. */
export function renderEntry(
  entry: ChangeSet,
  onRollback: (revision: bigint, button: HTMLButtonElement) => void,
): HTMLLIElement {
  const rows = entry.changes.map((c) =>
    h(
      "tr",
      { "data-key": c.key },
      h("td", { class: "key" }, c.key),
      h("td", { class: "old" }, c.oldValueJson === undefined ? h("em", {}, "absent") : longText(c.oldValueJson)),
      h("td", { class: "new" }, c.newValueJson === undefined ? h("em", {}, "removed") : longText(c.newValueJson)),
    ),
  );
  const rollback = h(
    "button",
    {
      type: "button",
      class: "rollback-btn",
      "data-revision": String(entry.revision),
      onclick: (ev: Event) => onRollback(entry.revision, ev.currentTarget as HTMLButtonElement),
    },
    `Roll back to r${entry.revision}`,
  );
  return h(
    "li",
    { class: "history-entry", "data-revision": String(entry.revision) },
    h(
      "div",
      { class: "entry-head" },
      h("strong", {}, `r${entry.revision}`),
      ` ${kindName(entry.kind)}`,
      entry.author ? ` by ${entry.author}` : "",
      ` · ${formatTime(entry)}`,
      entry.message ? h("q", {}, entry.message) : null,
      rollback,
    ),
    rows.length
      ? h("table", { class: "diff" }, h("thead", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "before"), h("th", {}, "after"))), h("tbody", {}, rows))
      : null,
  );
}
