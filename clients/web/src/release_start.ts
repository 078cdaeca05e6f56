// Starting a release from the console: the staged document, the slice (selectors, percent)
// and when it ends by itself (max failures, bake), as `configctl release start` takes them.
// The form checks what it can say in its own terms; the server checks the rest (label rules,
// the schema), and its answer is shown under the form.

import { type ApiError, type ReleaseApi, describeError } from "./api";
import { clear, h, messageNodes } from "./dom";
import { jsonError, pretty } from "./jsontext";

/** What the form asks the server for (StartReleaseRequest without the namespace). */
export interface StartInput {
  documentJson: string;
  selectors: { label: string; value: string }[];
  percent: number;
  maxFailures?: number;
  bakeSeconds: number;
}

/** The form's fields as typed; every one may be empty but the document. */
export interface StartFields {
  document: string;
  selectors: string;
  percent: string;
  maxFailures: string;
  bake: string;
}

const BAKE_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** The request the fields ask for, or what is wrong with them, each naming its field. */
export function readStartFields(fields: StartFields): StartInput | string[] {
  const problems: string[] = [];
  const documentText = fields.document.trim();
  const parseProblem = documentText ? jsonError(documentText) : "it is empty";
  if (parseProblem !== null) {
    problems.push(`Staged document: not valid JSON (${parseProblem})`);
  } else if (!documentText.startsWith("{")) {
    problems.push("Staged document: give a JSON object of key: value, the whole new document");
  }
  const selectors: StartInput["selectors"] = [];
  for (const part of fields.selectors.split(",").map((s) => s.trim()).filter(Boolean)) {
    const at = part.indexOf("=");
    if (at <= 0) {
      problems.push(`Selectors: "${part}" is not label=value (e.g. zone=eu-west-1)`);
    } else {
      selectors.push({ label: part.slice(0, at).trim(), value: part.slice(at + 1).trim() });
    }
  }
  const percentText = fields.percent.trim() || "100";
  const percent = Number(percentText);
  if (!/^\d+$/.test(percentText) || percent < 1 || percent > 100) {
    problems.push(`Percent: "${percentText}" is not a whole number from 1 to 100`);
  }
  let maxFailures: number | undefined;
  const failuresText = fields.maxFailures.trim();
  if (failuresText) {
    maxFailures = Number(failuresText);
    if (!/^\d+$/.test(failuresText)) {
      problems.push(`Max failures: "${failuresText}" is not a whole number (0 aborts at the first rejection; empty: never)`);
    }
  }
  let bakeSeconds = 0;
  const bakeText = fields.bake.trim();
  if (bakeText) {
    const match = /^(\d+(?:\.\d+)?)\s*([smh]?)$/.exec(bakeText);
    if (match === null) {
      problems.push(`Bake: "${bakeText}" is not a duration such as 90s, 10m or 1h (empty: never promotes by itself)`);
    } else {
      bakeSeconds = Number(match[1]) * BAKE_UNITS[match[2] || "s"];
    }
  }
  if (problems.length) return problems;
  return { documentJson: documentText, selectors, percent, maxFailures, bakeSeconds };
}

export interface StartHooks {
  /** The namespace's current document (JSON text): what the staged one starts from. */
  document(): string;
  /** The page's change message: the release's message. */
  message(): string;
  /** The release started at `revision` (its id). */
  onStarted(revision: bigint): void;
}

/** Server field names as the form calls them. */
const FIELD_NAMES: [RegExp, string][] = [
  [/^document_json\b/, "Staged document"],
  [/^selectors\b/, "Selectors"],
  [/^percent\b/, "Percent"],
  [/^max_failures\b/, "Max failures"],
  [/^bake_seconds\b/, "Bake"],
];

function inFormTerms(text: string): string {
  const bare = text.replace(/^configd: /, "");
  for (const [field, name] of FIELD_NAMES) if (field.test(bare)) return bare.replace(field, name);
  return bare;
}

/** The form; one element kept across the panel's renders, so what is typed survives a poll. */
export class StartForm {
  readonly root: HTMLDetailsElement;
  private readonly documentInput = h("textarea", { id: "start-document", rows: 10, spellcheck: "false", "aria-label": "staged document (JSON)" });
  private readonly selectorsInput = h("input", { id: "start-selectors", type: "text", placeholder: "zone=eu-west-1, tier=canary (empty: every client)" });
  private readonly percentInput = h("input", { id: "start-percent", type: "text", inputmode: "numeric", placeholder: "100" });
  private readonly failuresInput = h("input", { id: "start-max-failures", type: "text", inputmode: "numeric", placeholder: "empty: never aborts by itself" });
  private readonly bakeInput = h("input", { id: "start-bake", type: "text", placeholder: "e.g. 10m (empty: never promotes by itself)" });
  private readonly problems = h("ul", { id: "start-problems", class: "violations" });
  private readonly button: HTMLButtonElement;
  private busy = false;

  constructor(
    private readonly client: ReleaseApi,
    private readonly namespace: string,
    private readonly hooks: StartHooks,
  ) {
    this.button = h(
      "button",
      { type: "button", id: "start-release", class: "primary", onclick: () => void this.submit() },
      "Start release",
    );
    // Typing anything asks for a fresh confirmation.
    for (const input of [this.documentInput, this.selectorsInput, this.percentInput, this.failuresInput, this.bakeInput]) {
      input.addEventListener("input", () => this.unconfirm());
    }
    const field = (label: string, input: HTMLElement, hint: string) =>
      h("label", { class: "start-field" }, h("span", { class: "start-label" }, label), input, h("span", { class: "hint" }, hint));
    this.root = h(
      "details",
      { id: "release-start", class: "release-start" },
      h("summary", {}, "Start a release"),
      h("p", { class: "hint" }, "The slice applies the staged document first; everyone else keeps the current one until it is promoted."),
      field("Staged document", this.documentInput, "the whole new document (JSON), validated against the schema"),
      field("Selectors", this.selectorsInput, "label=value, comma-separated; every one must match"),
      field("Percent", this.percentInput, "of the matching clients, the same ones every time (1-100)"),
      field("Max failures", this.failuresInput, "aborts by itself once more clients rejected it"),
      field("Bake", this.bakeInput, "promotes by itself this long after every targeted client applied it"),
      this.problems,
      h("div", { class: "actions" }, this.button, h("span", { class: "hint" }, "uses the change message above")),
    );
    this.root.addEventListener("toggle", () => {
      if (this.root.open && !this.documentInput.value.trim()) this.documentInput.value = pretty(this.hooks.document());
    });
  }

  private unconfirm(): void {
    delete this.button.dataset.confirm;
    this.button.textContent = "Start release";
  }

  private showProblems(problems: (string | (string | Node)[])[]): void {
    clear(this.problems);
    for (const problem of problems) this.problems.append(h("li", { class: "violation" }, problem));
  }

  private async submit(): Promise<void> {
    if (this.busy) return;
    const input = readStartFields({
      document: this.documentInput.value,
      selectors: this.selectorsInput.value,
      percent: this.percentInput.value,
      maxFailures: this.failuresInput.value,
      bake: this.bakeInput.value,
    });
    if (Array.isArray(input)) {
      this.unconfirm();
      this.showProblems(input);
      return;
    }
    this.showProblems([]);
    if (this.button.dataset.confirm !== "yes") {
      // A second click confirms: it changes what every client of the slice runs.
      const slice = input.selectors.length ? input.selectors.map((s) => `${s.label}=${s.value}`).join(", ") : "every client";
      this.button.dataset.confirm = "yes";
      this.button.textContent = `Confirm: start for ${input.percent}% of ${slice}`;
      return;
    }
    this.busy = true;
    this.button.disabled = true;
    try {
      const reply = await this.client.startRelease({ namespace: this.namespace, ...input, message: this.hooks.message() });
      this.documentInput.value = "";
      this.root.open = false;
      this.hooks.onStarted(reply.revision);
    } catch (err) {
      this.showError(await describeError(err));
    } finally {
      this.busy = false;
      this.button.disabled = false;
      this.unconfirm();
    }
  }

  private showError(error: ApiError): void {
    const head = [h("strong", {}, error.codeName), " ", ...messageNodes(inFormTerms(error.message))];
    // Schema violations point into the document (JSON pointers); the others name a field.
    const where = (path: string) => (path.startsWith("/") || !path ? `Staged document ${path}`.trim() : inFormTerms(path));
    const details = error.violations.map((v) => `${where(v.path)}: ${v.message}`);
    this.showProblems([head, ...details]);
  }
}
