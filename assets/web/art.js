// Inline SVG: the tree at each stage, energy balls and small icons. Only constant markup
// lives here (no player data), so it can be parsed as HTML safely.

const GROUND = `
  <ellipse cx="100" cy="206" rx="78" ry="12" fill="#7a5534" opacity="0.25"/>
  <path d="M30 204 Q100 170 170 204 Z" fill="#9b6b43"/>
  <path d="M44 202 Q100 180 156 202" fill="none" stroke="#b9875a" stroke-width="3" stroke-linecap="round"/>`;

const TREES = {
  seed: `
    <svg class="tree-svg stage-seed" viewBox="0 0 200 220" role="img" aria-label="a seed">
      ${GROUND}
      <g class="sway">
        <ellipse cx="100" cy="186" rx="17" ry="12" fill="#8c5a2b"/>
        <ellipse cx="95" cy="181" rx="6" ry="3.5" fill="#c58c55" opacity="0.8"/>
        <path d="M100 175 q2 -7 8 -9" fill="none" stroke="#5fbf5c" stroke-width="3" stroke-linecap="round"/>
        <path d="M108 166 q7 -3 9 3 q-6 3 -9 -3z" fill="url(#g-leaf)"/>
      </g>
    </svg>`,
  sprout: `
    <svg class="tree-svg stage-sprout" viewBox="0 0 200 220" role="img" aria-label="a sprout">
      ${GROUND}
      <g class="sway">
        <path d="M100 190 C100 170 98 150 100 130" fill="none" stroke="#3f9a4a" stroke-width="6" stroke-linecap="round"/>
        <path d="M100 142 C80 128 62 132 54 146 C72 156 90 154 100 142z" fill="url(#g-leaf)"/>
        <path d="M100 132 C116 112 138 112 148 124 C134 140 112 142 100 132z" fill="url(#g-leaf)"/>
        <path d="M100 142 C84 138 70 140 60 145" stroke="#2b7d3f" stroke-width="1.5" fill="none" opacity="0.6"/>
        <path d="M101 131 C116 124 130 122 142 124" stroke="#2b7d3f" stroke-width="1.5" fill="none" opacity="0.6"/>
      </g>
    </svg>`,
  sapling: `
    <svg class="tree-svg stage-sapling" viewBox="0 0 200 220" role="img" aria-label="a sapling">
      ${GROUND}
      <g class="sway">
        <path d="M96 196 C98 160 97 130 100 96 L104 96 C104 130 104 160 106 196z" fill="url(#g-trunk)"/>
        <path d="M101 150 C88 140 80 132 74 120" stroke="#7a4f2a" stroke-width="4" fill="none" stroke-linecap="round"/>
        <path d="M102 132 C114 122 122 114 128 102" stroke="#7a4f2a" stroke-width="4" fill="none" stroke-linecap="round"/>
        <circle cx="72" cy="112" r="20" fill="url(#g-crown)"/>
        <circle cx="130" cy="96" r="22" fill="url(#g-crown)"/>
        <circle cx="100" cy="78" r="30" fill="url(#g-crown)"/>
        <circle cx="90" cy="66" r="9" fill="#bff0b4" opacity="0.55"/>
        <circle cx="124" cy="88" r="6" fill="#bff0b4" opacity="0.5"/>
      </g>
    </svg>`,
  tree: `
    <svg class="tree-svg stage-tree" viewBox="0 0 200 220" role="img" aria-label="a grown tree">
      ${GROUND}
      <g class="sway">
        <path d="M90 198 C94 160 92 130 96 100 L106 100 C108 130 106 160 112 198z" fill="url(#g-trunk)"/>
        <path d="M98 150 C80 140 66 130 56 112" stroke="#6b4525" stroke-width="6" fill="none" stroke-linecap="round"/>
        <path d="M104 136 C122 126 136 116 146 98" stroke="#6b4525" stroke-width="6" fill="none" stroke-linecap="round"/>
        <circle cx="54" cy="104" r="28" fill="url(#g-crown)"/>
        <circle cx="148" cy="96" r="30" fill="url(#g-crown)"/>
        <circle cx="100" cy="62" r="42" fill="url(#g-crown)"/>
        <circle cx="72" cy="74" r="28" fill="url(#g-crown)"/>
        <circle cx="130" cy="64" r="28" fill="url(#g-crown)"/>
        <circle cx="86" cy="44" r="12" fill="#c6f5bb" opacity="0.55"/>
        <circle cx="136" cy="56" r="8" fill="#c6f5bb" opacity="0.5"/>
        <circle cx="48" cy="96" r="7" fill="#c6f5bb" opacity="0.45"/>
        <circle cx="118" cy="98" r="4" fill="#ff8a7a"/>
        <circle cx="70" cy="60" r="4" fill="#ffd36e"/>
        <circle cx="150" cy="84" r="4" fill="#ff8a7a"/>
      </g>
    </svg>`,
};

/** The virtual tree at `stage` (`seed`, `sprout`, `sapling` or `tree`). */
export function treeSvg(stage) {
  return TREES[stage] ?? TREES.seed;
}

function tuft(x, y, scale = 1) {
  return `<g transform="translate(${x} ${y}) scale(${scale})" fill="#3f9a4a">
    <path d="M0 0 C-2 -10 -8 -16 -12 -20 C-6 -14 -4 -8 -3 0z"/>
    <path d="M2 0 C2 -12 4 -20 6 -26 C6 -18 6 -8 6 0z"/>
    <path d="M8 0 C10 -8 14 -13 20 -16 C14 -10 12 -6 11 0z"/>
  </g>`;
}

function flower(x, y, petal, scale = 1) {
  const petals = [0, 72, 144, 216, 288]
    .map((a) => `<ellipse cx="0" cy="-5" rx="3.2" ry="5" fill="${petal}" transform="rotate(${a})"/>`)
    .join('');
  return `<g transform="translate(${x} ${y}) scale(${scale})">
    <path d="M0 0 C1 8 -1 16 0 24" stroke="#3f9a4a" stroke-width="2" fill="none"/>
    <path d="M0 14 C6 10 10 12 12 14 C8 17 4 17 0 14z" fill="#4fae58"/>
    ${petals}<circle r="2.8" fill="#ffd35c"/>
  </g>`;
}

/** Grass and flowers along the bottom of a forest scene (left and right of the tree). */
export function meadowSvg() {
  return `
    <svg class="meadow" viewBox="0 0 800 120" preserveAspectRatio="xMidYMax slice" aria-hidden="true">
      ${tuft(40, 112, 1.2)}${tuft(150, 100)}${tuft(250, 116, 1.3)}${tuft(560, 114, 1.2)}${tuft(690, 98)}${tuft(760, 116, 1.3)}
      ${flower(90, 84, '#ffffff')}${flower(205, 92, '#ff9fb2', 0.9)}${flower(300, 80, '#ffd35c', 0.8)}
      ${flower(520, 86, '#c9a7ff', 0.9)}${flower(620, 76, '#ffffff', 0.8)}${flower(720, 88, '#ff9fb2')}
    </svg>`;
}

/** An energy ball: `look` is `ripe`, `unripe`, `water` or `taken`. */
export function ballSvg(look) {
  const fill = { ripe: 'g-ripe', unripe: 'g-unripe', water: 'g-water', taken: 'g-taken' }[look] ?? 'g-ripe';
  return `
    <svg class="ball-svg" viewBox="0 0 64 64" aria-hidden="true">
      <circle cx="32" cy="32" r="27" fill="url(#${fill})"/>
      <circle cx="32" cy="32" r="27" fill="none" stroke="#ffffff" stroke-opacity="0.7" stroke-width="1.5"/>
      <ellipse cx="23" cy="20" rx="9" ry="5.5" fill="#ffffff" opacity="0.75" transform="rotate(-25 23 20)"/>
      <circle cx="44" cy="44" r="2.2" fill="#ffffff" opacity="0.6"/>
    </svg>`;
}

const ICONS = {
  leaf: '<path d="M20 4C10 4 4 9 4 16c0 1.5.3 2.8.8 4C6 14 10 10 16 8c-5 3-8 7-9.6 12.6.8.3 1.7.4 2.6.4 7 0 11-6 11-13V4z"/>',
  tree: '<path d="M12 2a6 6 0 0 0-5.6 8.2A4.5 4.5 0 0 0 8 19h3v3h2v-3h3a4.5 4.5 0 0 0 1.6-8.8A6 6 0 0 0 12 2z"/>',
  friends: '<circle cx="9" cy="8" r="4"/><circle cx="17" cy="9" r="3"/><path d="M1 20c0-4 3.6-6 8-6s8 2 8 6zM17.5 13.5c3 .3 5.5 2 5.5 5.5h-4.5c0-2.2-.4-4-1-5.5z"/>',
  sprout: '<path d="M11 22v-8C7 14 3 11 3 6c4 0 8 2 8 6 .3-4.6 3.6-8 9-8 0 5.5-3.7 9-7 9.7V22z"/>',
  bell: '<path d="M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zM19 16V11a7 7 0 0 0-5.5-6.8V3a1.5 1.5 0 0 0-3 0v1.2A7 7 0 0 0 5 11v5l-2 2v.5h18V18z"/>',
  trophy: '<path d="M7 3h10v2h4v3a5 5 0 0 1-4.3 5A5 5 0 0 1 13 16.9V19h4v2H7v-2h4v-2.1A5 5 0 0 1 7.3 13 5 5 0 0 1 3 8V5h4zm0 4H5v1a3 3 0 0 0 2 2.8zm10 0v3.8A3 3 0 0 0 19 8V7z"/>',
  hand: '<rect x="6.2" y="4" width="2.6" height="10" rx="1.3"/><rect x="9.4" y="2.5" width="2.6" height="11" rx="1.3"/><rect x="12.6" y="3.2" width="2.6" height="10.5" rx="1.3"/><rect x="15.8" y="5.2" width="2.5" height="9" rx="1.25"/><path d="M6.2 11h12.1v3.8a7 7 0 0 1-7 7h-.6a6 6 0 0 1-5-2.8L2.6 14.3a1.4 1.4 0 0 1 2.2-1.7l1.4 1.6z"/>',
  drop: '<path d="M12 2.5S5 10.2 5 15a7 7 0 0 0 14 0c0-4.8-7-12.5-7-12.5z"/>',
  'drop-energy': '<circle cx="12" cy="12" r="9"/><path fill="#fff" d="M13 5l-6 8h4.5l-1 6 6-8H12z"/>',
  shield: '<path d="M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5z"/>',
  seal: '<circle cx="12" cy="10" r="7"/><path d="M8 15.5 6.5 22 12 19.5 17.5 22 16 15.5A8 8 0 0 1 8 15.5z"/>',
  task: '<path d="M9 2h6a1 1 0 0 1 1 1v1h2a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2h2V3a1 1 0 0 1 1-1zm1 2v2h4V4zm5.3 6.3L11 14.6l-2.3-2.3-1.4 1.4 3.7 3.7 5.7-5.7z"/>',
  copy: '<path d="M8 3h10a2 2 0 0 1 2 2v12h-2V5H8zM4 7h10a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2z"/>',
};

/** A small icon in `currentColor`. */
export function iconSvg(name) {
  const body = ICONS[name] ?? '';
  return `<svg class="icon" viewBox="0 0 24 24" fill="currentColor" aria-hidden="true">${body}</svg>`;
}
