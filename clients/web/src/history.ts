// History: one entry per revision with the changed keys' before and after, and rollback.

import { timestampDate } from "@bufbuild/protobuf/wkt";
import { h } from "./dom";
import { longText } from "./longtext";
import { type ChangeSet, WriteKind } from "./gen/configd/v1/config_pb";

export function kindName(kind: WriteKind): string {
  return (WriteKind[kind] ?? "UNKNOWN").replace(/^WRITE_KIND_/, "").replace(/_/g, " ").toLowerCase();
}

/**
 * What one change set did, as a person says it: the kind, and for a release's writes the
 * release (its id is its start revision, which a reader looks for in the Release tab).
 */
export function describeChange(change: ChangeSet): string {
  const id = change.releaseId || change.revision;
  switch (change.kind) {
    case WriteKind.RELEASE_START:
      return `release #${id} started`;
    case WriteKind.RELEASE_PROMOTE:
      return `release #${id} promoted`;
    case WriteKind.RELEASE_ABORT:
      return `release #${id} aborted`;
    default:
      return kindName(change.kind);
  }
}

/** Whether the change set is what a release's slice applied, not a change of the document. */
export function forSliceOnly(change: ChangeSet): boolean {
  return change.kind === WriteKind.RELEASE_START || change.kind === WriteKind.RELEASE_ABORT;
}

// The diff's column headings: a release start stages values, an abort takes them back.
function diffHeadings(kind: WriteKind): [string, string] {
  if (kind === WriteKind.RELEASE_START) return ["before", "staged"];
  if (kind === WriteKind.RELEASE_ABORT) return ["staged", "restored"];
  return ["before", "after"];
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
      ` ${describeChange(entry)}`,
      entry.author ? ` by ${entry.author}` : "",
      ` · ${formatTime(entry)}`,
      entry.message ? h("q", {}, entry.message) : null,
      rollback,
    ),
    forSliceOnly(entry)
      ? h("p", { class: "hint slice-only" }, "For the release's slice only: the namespace's document did not change.")
      : null,
    rows.length
      ? h("table", { class: "diff" }, h("thead", {}, h("tr", {}, h("th", {}, "key"), ...diffHeadings(entry.kind).map((t) => h("th", {}, t)))), h("tbody", {}, rows))
      : null,
  );
}
