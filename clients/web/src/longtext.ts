// Long values collapsed: the first part and a control to show the rest, so a 200 KB value does
// not turn the page into tens of thousands of pixels.

import { h } from "./dom";

/** Values longer than this (characters) are shown cut, with a "show all" control. */
export const COLLAPSE_AT = 400;

/** `text` in a <code>; when longer than COLLAPSE_AT, cut there with a show all / show less toggle. */
export function longText(text: string, expanded = false, onToggle?: (expanded: boolean) => void): HTMLElement {
  if (text.length <= COLLAPSE_AT) return h("code", {}, text);
  // Never cut a surrogate pair in half.
  const cut = /[\ud800-\udbff]/.test(text[COLLAPSE_AT - 1]) ? COLLAPSE_AT - 1 : COLLAPSE_AT;
  const code = h("code", {});
  const button = h("button", { type: "button", class: "show-all" });
  const wrap = h("span", { class: "long-text" }, code, button);
  const set = (open: boolean): void => {
    code.textContent = open ? text : `${text.slice(0, cut)}…`;
    wrap.dataset.expanded = String(open);
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "show less" : `show all (${text.length.toLocaleString("en")} characters)`;
  };
  set(expanded);
  button.addEventListener("click", () => {
    const open = wrap.dataset.expanded !== "true";
    set(open);
    onToggle?.(open);
  });
  return wrap;
}
