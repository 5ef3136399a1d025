// Building DOM nodes without HTML strings: text from the server is always
// text, never markup.

const SVG = 'http://www.w3.org/2000/svg';

// h makes an element: h('a', {href: '#/x', class: 'link'}, 'text', child).
// Properties: "class", "dataset" (an object), "on<event>" (a listener),
// booleans and non-string values set as DOM properties, the rest as
// attributes. null, undefined and false are skipped, as children too.
export function h(tag, props, ...children) {
  return fill(document.createElement(tag), props, children);
}

// svg is h for SVG elements, whose attributes are always attributes.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v != null && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function fill(el, props, children) {
  for (const [k, v] of Object.entries(props ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (typeof v !== 'string' && k in el) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// replace swaps an element's children for new ones.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// $ finds one element by CSS selector.
export const $ = (sel, root = document) => root.querySelector(sel);

// keepFocus re-renders part of the page without losing the keyboard focus:
// the focused element's data-key is noted, and the element with the same
// key in the new content is focused again.
export function keepFocus(container, render) {
  const active = document.activeElement;
  const key = container.contains(active) ? active?.dataset?.key : undefined;
  render();
  if (key) container.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

// show makes one of a set of elements visible and hides the others.
export function showOnly(els, visible) {
  for (const el of els) el.hidden = el !== visible;
}

// syncChildren makes parent's children exactly nodes, in order, moving
// only what is out of place: an element that stays keeps its focus, and a
// click in progress on it is not lost.
export function syncChildren(parent, nodes) {
  let at = parent.firstChild;
  for (const node of nodes) {
    if (node !== at) parent.insertBefore(node, at);
    else at = at.nextSibling;
  }
  while (at) {
    const next = at.nextSibling;
    at.remove();
    at = next;
  }
}

// patch replaces an element's children only when what they show changed,
// as told by a signature: unchanged content keeps its elements.
export function patch(el, signature, render) {
  if (el.dataset.sig === signature) return;
  el.dataset.sig = signature;
  keepFocus(el, () => replace(el, render()));
}
