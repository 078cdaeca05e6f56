// JSON as text: configd sends values as JSON text so integers keep full precision. The console
// never round-trips values through JS numbers; it splits and re-indents the text itself.

type Token = { kind: "punct" | "string" | "literal"; text: string };

const LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") {
      i++;
    } else if ("{}[]:,".includes(ch)) {
      tokens.push({ kind: "punct", text: ch });
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) throw new SyntaxError("unterminated string");
      tokens.push({ kind: "string", text: text.slice(i, j + 1) });
      i = j + 1;
    } else {
      const match = LITERAL.exec(text.slice(i));
      if (match === null) throw new SyntaxError(`unexpected character ${JSON.stringify(ch)} at ${i}`);
      tokens.push({ kind: "literal", text: match[0] });
      i += match[0].length;
    }
  }
  return tokens;
}

/** Whether `text` is one JSON value (checked by the browser's parser). */
export function jsonError(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Re-indent JSON text, keeping every literal (numbers included) exactly as written. */
export function pretty(text: string, indent = 2): string {
  const tokens = tokenize(text);
  let out = "";
  let depth = 0;
  const pad = () => "\n" + " ".repeat(depth * indent);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (token.kind !== "punct") {
      out += token.text;
      continue;
    }
    switch (token.text) {
      case "{":
      case "[": {
        const next = tokens[i + 1];
        if (next && next.kind === "punct" && (next.text === "}" || next.text === "]")) {
          out += token.text + next.text;
          i++;
        } else {
          depth++;
          out += token.text + pad();
        }
        break;
      }
      case "}":
      case "]":
        depth--;
        out += pad() + token.text;
        break;
      case ",":
        out += "," + pad();
        break;
      default:
        out += ": ";
    }
  }
  return out;
}

/** Compact JSON text (no insignificant whitespace), literals kept as written. */
export function compact(text: string): string {
  return tokenize(text)
    .map((t) => t.text)
    .join("");
}

/** The top-level properties of a JSON object text, as key -> compact value text, in order. */
export function splitObject(text: string): Map<string, string> {
  const tokens = tokenize(text);
  const out = new Map<string, string>();
  if (tokens.length === 0 || tokens[0].text !== "{") throw new SyntaxError("not a JSON object");
  let i = 1;
  while (i < tokens.length && tokens[i].text !== "}") {
    const keyToken = tokens[i];
    if (keyToken.kind !== "string" || tokens[i + 1]?.text !== ":") {
      throw new SyntaxError("malformed object");
    }
    const key = JSON.parse(keyToken.text) as string;
    let j = i + 2;
    let depth = 0;
    const start = j;
    for (; j < tokens.length; j++) {
      const t = tokens[j];
      if (t.kind === "punct" && (t.text === "{" || t.text === "[")) depth++;
      else if (t.kind === "punct" && (t.text === "}" || t.text === "]")) {
        if (depth === 0) break;
        depth--;
      } else if (t.kind === "punct" && t.text === "," && depth === 0) break;
    }
    out.set(
      key,
      tokens
        .slice(start, j)
        .map((t) => t.text)
        .join(""),
    );
    i = tokens[j]?.text === "," ? j + 1 : j;
  }
  return out;
}

/** A JSON object text from key -> value text pairs (values inserted verbatim). */
export function joinObject(entries: Iterable<[string, string]>): string {
  const parts: string[] = [];
  for (const [key, value] of entries) parts.push(`${JSON.stringify(key)}:${value}`);
  return `{${parts.join(",")}}`;
}

/** The first segment of a JSON pointer ("/port/0" -> "port"; "" -> null, the whole document). */
export function pointerKey(pointer: string): string | null {
  if (!pointer.startsWith("/")) return null;
  const first = pointer.slice(1).split("/")[0];
  return first.replace(/~1/g, "/").replace(/~0/g, "~");
}
