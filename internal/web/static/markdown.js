// A small Markdown renderer for what publishers write in a catalog: it makes
// DOM nodes, never HTML, so a description is text and structure only.
//
// It knows headings, paragraphs, emphasis, code spans and fenced code,
// lists (nested by indentation), block quotes, rules and links. HTML in the
// text stays text. A link goes only to an http or https address, opened in
// a new tab without a referrer; anything else (javascript:, data:, a
// relative path) is shown as its text. An image is shown as a link to it,
// since the page's policy loads no image from elsewhere.

import {h} from './dom.js';

// Longer descriptions are cut: the page should not hang on a hostile one.
export const MAX_CHARS = 64 * 1024;
// Block quotes and lists nest at most this deep; inline emphasis too.
const MAX_DEPTH = 8;
// A link's text and address are looked for this far at most, so that a
// text of many brackets does not take time by the square of its length.
const MAX_LINK = 2048;

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:\s+(.*))?$/;

// render returns the nodes of a Markdown text. headingBase is the level a
// "#" heading becomes (3: under the page's own h1 and h2).
export function render(text, {headingBase = 3} = {}) {
  let src = String(text ?? '').replace(/\r\n?/g, '\n');
  const cut = src.length > MAX_CHARS;
  if (cut) src = src.slice(0, MAX_CHARS);
  const nodes = blocks(src.split('\n'), 0, headingBase);
  if (cut) nodes.push(h('p', {class: 'muted'}, `(cut at ${MAX_CHARS} characters)`));
  return nodes;
}

// safeHref returns an http or https address as the browser would read it,
// or null for anything else.
export function safeHref(raw) {
  let url;
  try {
    url = new URL(String(raw).trim());
  } catch {
    return null;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
}

const blank = (line) => line.trim() === '';
const indentOf = (line) => line.match(/^ */)[0].length;

// startsBlock says whether a line begins a block other than a paragraph,
// which ends a paragraph without a blank line.
function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
}

function blocks(lines, depth, base) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (blank(line)) {
      i++;
      continue;
    }
    let m;
    if ((m = line.match(FENCE))) {
      const fence = m[1];
      const body = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
      i++; // the closing fence, or the end
      out.push(h('pre', {dataset: m[2] ? {lang: m[2]} : {}}, h('code', null, body.join('\n'))));
    } else if ((m = line.match(HEADING))) {
      const level = Math.min(6, base + m[1].length - 1);
      out.push(h(`h${level}`, null, inline(m[2] ?? '', 0)));
      i++;
    } else if (RULE.test(line)) {
      out.push(h('hr'));
      i++;
    } else if (QUOTE.test(line)) {
      const body = [];
      for (; i < lines.length && QUOTE.test(lines[i]); i++) body.push(lines[i].replace(QUOTE, ''));
      out.push(depth < MAX_DEPTH ? h('blockquote', null, blocks(body, depth + 1, base)) : h('p', null, body.join('\n')));
    } else if ((m = line.match(ITEM))) {
      i = list(lines, i, depth, base, out);
    } else {
      const body = [];
      for (; i < lines.length && !blank(lines[i]) && (body.length === 0 || !startsBlock(lines[i])); i++) body.push(lines[i].trim());
      out.push(h('p', null, inline(body.join('\n'), 0)));
    }
  }
  return out;
}

// list reads the list that starts at line i into out, and returns the line
// after it. An item holds the lines indented past its marker; a list of
// one-paragraph items shows them without paragraphs.
function list(lines, i, depth, base, out) {
  const first = lines[i].match(ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const items = [];
  while (i < lines.length) {
    const m = lines[i].match(ITEM);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const body = [m[3] ?? ''];
    const inside = indent + m[2].length + 1;
    for (i++; i < lines.length; i++) {
      const line = lines[i];
      if (blank(line)) {
        // A blank line inside an item, when the item goes on after it.
        if (i + 1 < lines.length && indentOf(lines[i + 1]) >= inside && !blank(lines[i + 1])) {
          body.push('');
          continue;
        }
        break;
      }
      const ind = indentOf(line);
      if (ind <= indent && (ITEM.test(line) || startsBlock(line))) break;
      // Indented lines belong to the item; others continue its paragraph.
      body.push(ind >= inside ? line.slice(inside) : line.trim());
    }
    items.push(body);
    // A blank line between items keeps the list going.
    if (i < lines.length && blank(lines[i]) && i + 1 < lines.length) {
      const next = lines[i + 1].match(ITEM);
      if (next && next[1].length === indent) i++;
    }
  }
  const li = items.map((body) => {
    const content = depth < MAX_DEPTH ? blocks(body, depth + 1, base) : [h('p', null, body.join('\n'))];
    const tight = content.length >= 1 && content[0].tagName === 'P' && content.slice(1).every((n) => n.tagName === 'UL' || n.tagName === 'OL');
    return h('li', null, tight ? [[...content[0].childNodes], content.slice(1)] : content);
  });
  const start = ordered ? Number.parseInt(first[2], 10) : 1;
  out.push(h(ordered ? 'ol' : 'ul', ordered && start !== 1 ? {start: String(start)} : null, li));
  return i;
}

// inline makes the nodes of a paragraph's text: code spans, links,
// autolinks, strong and emphasis, backslash escapes; the rest is text.
// Within a link's text (links false) a link is text: links do not nest.
function inline(text, depth, links = true) {
  const out = [];
  let buf = '';
  // Where each emphasis mark was last found unclosed: no mark after it
  // closes either, and it is not looked for again.
  const unclosed = new Map();
  const flush = () => {
    if (buf) out.push(buf);
    buf = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && /[!-/:-@[-`{-~]/.test(text[i + 1])) {
      buf += text[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const run = text.slice(i).match(/^`+/)[0];
      const end = text.indexOf(run, i + run.length);
      if (end > 0) {
        flush();
        out.push(h('code', null, text.slice(i + run.length, end).replace(/\n/g, ' ')));
        i = end + run.length;
        continue;
      }
      buf += run;
      i += run.length;
      continue;
    }
    if (c === '<' && links) {
      const m = text.slice(i).match(/^<([a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>]*)>/);
      if (m) {
        flush();
        out.push(link(m[1], m[1], depth));
        i += m[0].length;
        continue;
      }
    }
    if (links && (c === '[' || (c === '!' && text[i + 1] === '['))) {
      const image = c === '!';
      const found = linkAt(text, image ? i + 1 : i);
      if (found) {
        flush();
        // An image shows as a link to it, named by its description.
        out.push(link(found.url, found.label || found.url, depth, image));
        i = found.end;
        continue;
      }
    }
    if ((c === '*' || c === '_') && depth < MAX_DEPTH) {
      const strong = text[i + 1] === c;
      const mark = strong ? c + c : c;
      // "_" inside a word (snake_case) is not emphasis.
      const opens = text[i + mark.length] !== undefined && !/\s/.test(text[i + mark.length]) &&
        !(c === '_' && i > 0 && /[\p{L}\p{N}]/u.test(text[i - 1]));
      let end = -1;
      if (opens && !(i >= (unclosed.get(mark) ?? Infinity))) {
        end = closing(text, i + mark.length, mark);
        if (end < 0) unclosed.set(mark, i);
      }
      if (end > 0) {
        flush();
        out.push(h(strong ? 'strong' : 'em', null, inline(text.slice(i + mark.length, end), depth + 1, links)));
        i = end + mark.length;
        continue;
      }
      buf += mark;
      i += mark.length;
      continue;
    }
    buf += c;
    i++;
  }
  flush();
  return out;
}

// closing finds where emphasis opened before from ends: the mark, after a
// character that is not a space, and (for "_") not inside a word.
function closing(text, from, mark) {
  for (let j = text.indexOf(mark, from); j > 0; j = text.indexOf(mark, j + 1)) {
    if (j === from || /\s/.test(text[j - 1])) continue;
    if (mark.length === 1 && text[j + 1] === mark) {
      j++; // part of a strong mark: not this emphasis's end
      continue;
    }
    if (mark[0] === '_' && /[\p{L}\p{N}]/u.test(text[j + mark.length] ?? '')) continue;
    return j;
  }
  return -1;
}

// linkAt reads "[label](url)" or '[label](url "title")' at i.
function linkAt(text, i) {
  let level = 0;
  let j = i;
  const last = Math.min(text.length, i + MAX_LINK);
  for (; j < last; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '[') level++;
    else if (text[j] === ']' && --level === 0) break;
  }
  if (j >= last || text[j + 1] !== '(') return null;
  const m = text.slice(j + 2, j + 2 + MAX_LINK).match(/^\s*<?((?:[^\s()<>]|\([^\s()<>]*\))*)>?(?:\s+("[^"]*"|'[^']*'))?\s*\)/);
  if (!m) return null;
  return {label: text.slice(i + 1, j), url: m[1], end: j + 2 + m[0].length};
}

// link makes a link to an http or https address; anything else is text.
function link(url, label, depth, image = false) {
  const href = safeHref(url);
  const content = depth < MAX_DEPTH ? inline(label, depth + 1, false) : [label];
  if (!href) return h('span', {class: 'unsafe-link', dataset: {refused: ''}}, content);
  return h('a', {href, rel: 'noopener noreferrer nofollow', target: '_blank', referrerpolicy: 'no-referrer'},
    image ? ['Image: ', content] : content);
}
