// @ts-check
/**
 * Safe building blocks for the page. Nothing from the bucket is ever assigned as HTML: text goes
 * in as text nodes; a post's Markdown goes through marked with raw HTML shown as text, then through
 * DOMPurify, and arrives as a DOM fragment (the page's Trusted Types policy allows nothing else).
 */
import { Marked } from '/vendor/marked.js';
import DOMPurify from '/vendor/purify.js';

/**
 * Creates an element. `props`: class, text, title, and plain attributes (never event handlers or URLs).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined | null>} [props]
 * @param {Array<Node | string | null | undefined | false>} children
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = String(v);
    else if (k === 'text') node.textContent = String(v);
    else if (/^on|^href$|^src$|^style$/i.test(k)) throw new Error(`el(): refusing attribute ${k}`);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return node;
}

/** @param {string} s */
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

const marked = new Marked({
  gfm: true,
  async: false,
  renderer: {
    // Raw HTML in a post is shown as the text it is, never parsed.
    html(token) {
      return escapeHtml(token.text);
    },
    // Images are not loaded (a remote image tells its owner who reads the board): shown as text.
    image(token) {
      return escapeHtml(`![${token.text}](${token.href})`);
    },
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    const href = node.getAttribute('href') ?? '';
    // Only web and mail links stay links; anything else (javascript:, data:, relative) becomes text.
    if (!/^(?:https?:|mailto:)/i.test(href)) node.removeAttribute('href');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
    node.setAttribute('target', '_blank');
  }
});

const PURIFY = {
  RETURN_DOM_FRAGMENT: true,
  FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'iframe', 'svg', 'math', 'video', 'audio', 'source', 'picture'],
  FORBID_ATTR: ['style', 'class', 'id', 'name'],
};

/**
 * A post's Markdown as a DOM fragment (sanitized).
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function markdown(text) {
  const html = /** @type {string} */ (marked.parse(text));
  return /** @type {DocumentFragment} */ (/** @type {unknown} */ (DOMPurify.sanitize(html, PURIFY)));
}

/** 1536 → `1.5 KiB`, as the CLI prints sizes. @param {number | null | undefined} bytes */
export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '?';
  if (bytes < 1024) return `${Math.max(0, Math.round(bytes))} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (unit < units.length - 1 && Number(value.toFixed(1)) >= 1024) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}

/** `2026-12-01 22:30:05Z`. @param {string | null | undefined} iso */
export function formatTime(iso) {
  if (!iso) return 'unknown time';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return 'unknown time';
  return d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** `5 min ago`, `in 2 h` for a time in the future. @param {string | null | undefined} iso */
export function ago(iso) {
  if (!iso) return '';
  const ms = Date.now() - new Date(iso).getTime();
  if (!Number.isFinite(ms)) return '';
  const abs = Math.abs(ms);
  const text =
    abs < 60_000 ? `${Math.round(abs / 1000)} s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)} min` : abs < 172_800_000 ? `${Math.round(abs / 3_600_000)} h` : `${Math.round(abs / 86_400_000)} d`;
  return ms >= -5_000 ? `${text} ago` : `in ${text} (time in the future)`;
}

/**
 * A button that copies a command, with the command shown beside it.
 * @param {string} label
 * @param {string} command
 */
export function copyCommand(label, command) {
  const button = el('button', { type: 'button', class: 'copy', title: `Copy: ${command}`, text: label });
  button.addEventListener('click', () => {
    navigator.clipboard.writeText(command).then(
      () => flash(button, 'copied'),
      () => flash(button, 'copy failed: select the text'),
    );
  });
  return el('div', { class: 'command' }, button, el('code', { text: command }));
}

/** @param {HTMLElement} button @param {string} text */
function flash(button, text) {
  const before = button.textContent;
  button.textContent = text;
  setTimeout(() => (button.textContent = before), 1500);
}
