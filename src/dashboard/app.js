// The dashboard's entry: a hash router over the views and the live stream. Each view is
// `render(main, params)`; a change event re-renders the current view (debounced) unless the
// user is typing into one of its fields.
import { subscribe } from './api.js';
import { errorBox, h, mount } from './dom.js';
import { renderFinding, renderFindings } from './views/findings.js';
import { renderHost } from './views/host.js';
import { renderMap } from './views/map.js';
import { renderMatrix } from './views/matrix.js';
import { renderOverview } from './views/overview.js';
import { renderPath } from './views/path.js';

const main = document.getElementById('main');
const live = document.getElementById('live');

/** "#/host/ecs3" → { view: 'host', arg: 'ecs3', params } */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, query = ''] = raw.split('?');
  const [view = '', ...rest] = pathPart.split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
  return { view: view || 'overview', arg, params: new URLSearchParams(query) };
}

const VIEWS = {
  overview: (r) => renderOverview(main, r.params),
  findings: (r) => renderFindings(main, r.params),
  finding: (r) => renderFinding(main, r.arg),
  host: (r) => renderHost(main, r.arg),
  matrix: (r) => renderMatrix(main, r.params),
  map: (r) => renderMap(main, r.params),
  path: (r) => renderPath(main, r.params),
};

let rendering = Promise.resolve();
let generation = 0;

/** Render the current route; `live` marks a refresh caused by an event (keeps scroll position). */
function render(liveRefresh = false) {
  const r = parseHash();
  const gen = ++generation;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.nav === (r.view === 'finding' ? 'findings' : r.view));
  const view = VIEWS[r.view];
  const scroll = liveRefresh ? window.scrollY : 0;
  rendering = rendering.then(async () => {
    if (gen !== generation) return;
    try {
      if (!view) mount(main, errorBox(new Error(`no view "${r.view}"`)));
      else await view(r);
      document.body.dataset.view = r.view;
      if (liveRefresh) window.scrollTo(0, scroll);
    } catch (err) {
      mount(main, h('h1', {}, r.view), errorBox(err));
    }
  });
  return rendering;
}

let refreshTimer;
let lastEvent;

function onChange(event) {
  lastEvent = event;
  live.textContent = `live · ${event.type}${event.host ? ` ${event.host}` : ''}`;
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const typing = document.activeElement && main.contains(document.activeElement) && /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (!typing) render(true);
  }, 250);
}

function onState(state) {
  live.className = `live ${state === 'live' ? 'on' : 'off'}`;
  if (state === 'live' && !lastEvent) live.textContent = 'live';
  if (state !== 'live') live.textContent = 'reconnecting…';
  document.body.dataset.live = state;
}

window.addEventListener('hashchange', () => render());
subscribe(onChange, onState);
render();
