// Small DOM helpers: element building (text always goes in as text, never as HTML),
// trusted SVG markup from art.js, and toasts.

import { iconSvg } from './art.js';

/**
 * `h('button', {class: 'btn', on: {click}, data: {ballId: 3}}, 'text', child)`.
 * `svg` takes constant markup from art.js; every other string becomes a text node.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'on') for (const [type, fn] of Object.entries(value)) el.addEventListener(type, fn);
    else if (key === 'data') for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (key === 'svg') el.innerHTML = value;
    else if (key === 'style') for (const [k, v] of Object.entries(value)) el.style.setProperty(k, v);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An icon element from art.js. */
export function icon(name) {
  return h('span', { class: 'icon-wrap', svg: iconSvg(name) });
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(id) {
  return document.getElementById(id);
}

/** Fills every `<span data-icon="name">` of the static page with its icon. */
export function paintIcons(root = document) {
  for (const el of root.querySelectorAll('[data-icon]')) el.innerHTML = iconSvg(el.dataset.icon);
}

const MAX_TOASTS = 4;

/**
 * Shows a toast. `kind`: `good`, `bad`, `steal`, `water`, `friend`, `info`.
 * `actions`: `[{label, run}]` buttons (the toast closes after one is pressed).
 */
export function toast({ kind = 'info', title, body, actions = [], icon: iconName, ttl = 6000 }) {
  const box = $('toasts');
  const close = () => {
    item.classList.add('leaving');
    setTimeout(() => item.remove(), 250);
  };
  const item = h(
    'div',
    { class: `toast ${kind}`, role: kind === 'bad' ? 'alert' : 'status', data: { kind } },
    iconName ? icon(iconName) : null,
    h(
      'div',
      { class: 'toast-text' },
      title ? h('b', {}, title) : null,
      body ? h('span', {}, body) : null,
      actions.length
        ? h(
            'div',
            { class: 'toast-actions' },
            actions.map((action) =>
              h(
                'button',
                {
                  type: 'button',
                  class: 'btn small',
                  on: {
                    click: () => {
                      close();
                      action.run();
                    },
                  },
                },
                action.label,
              ),
            ),
          )
        : null,
    ),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', on: { click: close } }, '×'),
  );
  box.prepend(item);
  while (box.children.length > MAX_TOASTS) box.lastElementChild.remove();
  if (ttl > 0) setTimeout(close, ttl);
  return item;
}
