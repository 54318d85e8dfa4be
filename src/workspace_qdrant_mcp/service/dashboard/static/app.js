// wqm dashboard: plain JS, no libraries, nothing fetched from anywhere but this server.
// Data is put into the page with textContent and setAttribute only (never innerHTML),
// so a name or a reason can never become markup.
'use strict';
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).getAttribute('content');
  const TOKEN = meta('wqm-token');
  const CSRF = meta('wqm-csrf');
  const VIEWS = ['projects', 'graph', 'usage', 'history', 'doctor'];
  const FULL_REFRESH_MS = 60000;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const state = { session: null, version: null, data: {}, errors: {}, loading: false, again: false };

  // -- small helpers ---------------------------------------------------------------------------

  function build(element, attrs, children) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') element.setAttribute('class', value);
      else if (key === 'text') element.textContent = value;
      else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
      else element.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }
  const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

  function url(path, params) {
    const target = new URL(path, window.location.origin);
    target.searchParams.set('token', TOKEN);
    for (const [key, value] of Object.entries(params || {})) target.searchParams.set(key, value);
    return target.toString();
  }

  async function reply(response) {
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const error = new Error((body && body.error) || `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  const getJSON = async (path, params) =>
    reply(await fetch(url(path, params), { cache: 'no-store', credentials: 'omit' }));

  const post = async (path, body) => reply(await fetch(url(path), {
    method: 'POST',
    cache: 'no-store',
    credentials: 'omit',
    headers: { 'Content-Type': 'application/json', 'X-WQM-CSRF': CSRF },
    body: JSON.stringify(body || {}),
  }));

  function when(iso) {
    if (!iso) return 'never';
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function shorten(text, max) {
    if (!text || text.length <= max) return text || '';
    const half = Math.floor((max - 1) / 2);
    return `${text.slice(0, half)}…${text.slice(text.length - half)}`;
  }

  function toast(message, kind) {
    const el = document.getElementById('toast');
    el.textContent = message;
    el.className = kind || '';
  }

  function setLive(mode, text) {
    const el = document.getElementById('live');
    el.dataset.state = mode;
    el.textContent = text || mode;
  }

  const readOnly = () => !state.session || state.session.read_only;

  // -- confirmation dialog ---------------------------------------------------------------------

  function confirmDialog({ title, text, steps, okLabel, okDisabled }) {
    const dialog = document.getElementById('confirm');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-text').textContent = text;
    const list = document.getElementById('confirm-steps');
    list.replaceChildren(...(steps || []).map((step) => h('li', { text: step })));
    const ok = document.getElementById('confirm-ok');
    const cancel = document.getElementById('confirm-cancel');
    ok.textContent = okLabel || 'Confirm';
    ok.disabled = Boolean(okDisabled);
    return new Promise((resolve) => {
      const finish = (answer) => {
        ok.removeEventListener('click', yes);
        cancel.removeEventListener('click', no);
        dialog.removeEventListener('cancel', no);
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const yes = () => finish(true);
      const no = (event) => { if (event) event.preventDefault(); finish(false); };
      ok.addEventListener('click', yes);
      cancel.addEventListener('click', no);
      dialog.addEventListener('cancel', no);
      dialog.showModal();
    });
  }

  async function runAction(path, body, describe) {
    try {
      const result = await post(path, body);
      toast(describe(result), 'ok');
    } catch (error) {
      toast(error.message, 'error');
    }
    loadAll();
  }

  function undoSteps(entry) {
    return [...entry.steps].reverse().map((step) => {
      if (step.before === null) return `Remove ${step.alias} (now reaching ${step.after}).`;
      if (step.after === null) return `Restore ${step.alias} → ${step.before}.`;
      return `Re-point ${step.alias} from ${step.after} back to ${step.before}.`;
    });
  }

  async function askUndo(entry) {
    const sure = await confirmDialog({
      title: `Undo change #${entry.change_id}?`,
      text: `This reverts change #${entry.change_id} (${entry.reason || entry.kind}, by ${entry.actor}) in one atomic step:`,
      steps: undoSteps(entry),
      okLabel: 'Undo',
    });
    if (!sure) return;
    runAction('/api/undo', { change_id: entry.change_id },
      (r) => `Undone: change ${r.change.id} was reverted by change ${r.undo_change.id}.`);
  }

  async function askRemove(name) {
    let info;
    try { info = await getJSON('/api/alias', { name }); } catch (error) { toast(error.message, 'error'); return; }
    const others = info.other_names.length ? info.other_names.join(', ') : 'none';
    const steps = [`It reaches ${info.collection_name}${info.points === null ? '' : ` (${info.points} points)`}.`,
      `Other names of that data: ${others}.`];
    if (info.last_name) steps.push('It is the last name of this data: removing it would leave the data unreachable, so the dashboard will not (the CLI can, with --force).');
    const sure = await confirmDialog({
      title: `Remove alias ${name}?`,
      text: 'The data is not touched; whoever still searches through this name will no longer find it.',
      steps,
      okLabel: 'Remove',
      okDisabled: info.last_name,
    });
    if (!sure) return;
    runAction('/api/remove-alias', { name },
      (r) => `Removed ${r.removed.alias_name} (change ${r.change_id}); ${r.remaining_names.length} other name(s) remain.`);
  }

  async function askDoctorFix() {
    const sure = await confirmDialog({
      title: 'Run doctor --fix?',
      text: 'Finishes or rolls back interrupted changes and makes the registry follow Qdrant (Qdrant is the routing truth).',
      steps: (state.data.doctor ? state.data.doctor.problems : []).map((p) => `${p.kind}: ${p.name} — ${p.detail}`),
      okLabel: 'Repair',
    });
    if (!sure) return;
    runAction('/api/doctor-fix', {},
      (r) => `doctor --fix: ${r.problems.length} problem(s) found, ${r.remaining} remain.`);
  }

  // -- views -----------------------------------------------------------------------------------

  function viewError(key) {
    return state.errors[key] ? h('p', { class: 'error', text: `Could not load: ${state.errors[key]}` }) : null;
  }

  function renderProjects(section) {
    const projects = state.data.projects;
    const header = [h('h2', { text: 'Projects' }),
      h('p', { class: 'lead', text: 'Every project the registry knows, the names that reach its data, and what is indexed.' })];
    if (!projects) return section.replaceChildren(...header, viewError('projects') || '');
    if (!projects.length) {
      return section.replaceChildren(...header, h('p', { class: 'empty', text: 'No project has data yet: run `wqm ingest` in one.' }));
    }
    const cards = projects.map((p) => {
      const names = h('ul', { class: 'names' }, p.names.map((n) => h('li', { 'data-name': n.name },
        h('code', { text: n.name }),
        h('span', { class: `badge ${n.kind}`, text: n.kind }),
        n.current ? h('span', { class: 'badge current', text: 'current' }) : null,
        n.reachable ? null : h('span', { class: 'badge unreachable', text: 'does not reach this data yet' }))));
      const index = p.index;
      const slot = (value) => (value === null ? h('span', { class: 'slot', text: 'not tracked yet' }) : (value ? 'on' : 'off'));
      return h('article', { class: 'card project', 'data-root': p.project_root },
        h('h3', { text: p.project_root }),
        h('div', { class: 'sub' }, p.canonical_remote ? `remote ${p.canonical_remote}` : 'no remote',
          p.root_exists ? '' : ' · folder missing'),
        names,
        h('div', { class: 'counts' },
          h('div', {}, h('b', { text: p.points }), h('span', { text: 'points' })),
          h('div', {}, h('b', { text: p.files }), h('span', { text: 'files' })),
          h('div', {}, h('b', { text: p.notes }), h('span', { text: 'notes' }))),
        h('dl', { class: 'kv' },
          h('dt', { text: 'physical collection' }), h('dd', {}, h('code', { text: p.physical_collection })),
          h('dt', { text: 'index' }), h('dd', {}, h('span', { class: `badge ${index.state === 'indexed' ? 'ok' : 'bad'}`, text: index.state })),
          h('dt', { text: 'building' }), h('dd', {}, slot(index.building)),
          h('dt', { text: 'stale files' }), h('dd', {}, slot(index.stale)),
          h('dt', { text: 'watcher' }), h('dd', {}, slot(index.watcher)),
          h('dt', { text: 'recipe' }), h('dd', {}, p.recipe === null ? h('span', { class: 'slot', text: 'not recorded yet' }) : p.recipe),
          h('dt', { text: 'registered' }), h('dd', { text: when(p.created_at) })));
    });
    return section.replaceChildren(...header, viewError('projects') || '', h('div', { class: 'cards' }, cards));
  }

  function renderGraph(section) {
    const graph = state.data.graph;
    const header = [h('h2', { text: 'Alias graph' }),
      h('p', { class: 'lead', text: 'Every name (left) and the physical collection it reaches (right), including collections no name reaches.' })];
    if (!graph) return section.replaceChildren(...header, viewError('graph') || '');
    if (!graph.collections.length) {
      return section.replaceChildren(...header, h('p', { class: 'empty', text: 'No collections yet.' }));
    }
    const byCollection = new Map(graph.collections.map((c) => [c.name, []]));
    for (const n of graph.names) {
      if (n.collection && byCollection.has(n.collection)) byCollection.get(n.collection).push(n);
    }
    const order = [...graph.collections].sort((a, b) => (b.names.length > 0) - (a.names.length > 0)
      || (byCollection.get(b.name).length > 0) - (byCollection.get(a.name).length > 0)
      || String(a.project_root || '~').localeCompare(String(b.project_root || '~')));
    const nameWidth = Math.max(230, 34 + 7.3 * Math.max(0, ...graph.names.map((n) => n.name.length)));
    const collWidth = Math.max(260, 34 + 7.3 * Math.max(0, ...graph.collections.map((c) => c.name.length)));
    const gap = 170;
    const rowH = 34;
    const rowGap = 10;
    const x1 = 12;
    const x2 = x1 + nameWidth + gap;
    const nodes = [];
    const edges = [];
    let y = 12;
    for (const coll of order) {
      const names = byCollection.get(coll.name);
      const block = names.length ? names.length * (rowH + rowGap) - rowGap : 0;
      const collH = Math.max(48, block);
      const top = y;
      names.forEach((n, i) => {
        const ny = top + (collH - block) / 2 + i * (rowH + rowGap);
        const cls = ['node', n.stale ? 'stale' : '', n.in_qdrant ? '' : 'missing'].join(' ').trim();
        const detail = [n.kind, `${n.hit_count} hits`, n.stale ? 'stale' : '', n.in_qdrant ? '' : 'not in Qdrant',
          n.registered ? '' : 'not registered'].filter(Boolean).join(' · ');
        nodes.push(s('g', { class: cls, 'data-name': n.name, transform: `translate(${x1},${ny})` },
          s('title', { text: `${n.name}\n${detail}\nmade by ${n.created_by || 'unknown'}` }),
          s('rect', { width: nameWidth, height: rowH, rx: 6 }),
          s('text', { x: 10, y: 14, text: n.name }),
          s('text', { x: 10, y: 28, class: 'small', text: detail })));
        const sx = x1 + nameWidth;
        const sy = ny + rowH / 2;
        const ty = top + collH / 2;
        const mid = gap / 2;
        edges.push(s('path', {
          class: ['edge', n.stale ? 'stale' : '', n.in_qdrant ? '' : 'missing'].join(' ').trim(),
          'data-from': n.name, 'data-to': coll.name,
          d: `M${sx},${sy} C${sx + mid},${sy} ${x2 - mid},${ty} ${x2},${ty}`,
        }));
      });
      const kind = !coll.exists ? 'gone' : (coll.reachable ? '' : 'orphan');
      const second = !coll.exists ? 'collection is gone'
        : `${coll.points} points · ${coll.project_root ? shorten(coll.project_root, 40) : (coll.reachable ? 'no project record' : 'no name reaches it')}`;
      nodes.push(s('g', { class: `coll ${kind}`.trim(), 'data-collection': coll.name, transform: `translate(${x2},${top})` },
        s('title', { text: `${coll.name}\n${coll.project_root || ''}\nnames: ${coll.names.join(', ') || 'none'}` }),
        s('rect', { width: collWidth, height: collH, rx: 8 }),
        s('text', { x: 12, y: collH / 2 - 3, text: coll.name }),
        s('text', { x: 12, y: collH / 2 + 13, class: 'small', text: second })));
      y = top + collH + 20;
    }
    const width = x2 + collWidth + 12;
    const svg = s('svg', { class: 'graph', width, height: y, viewBox: `0 0 ${width} ${y}`, role: 'img',
      'aria-label': 'Alias graph: names and the collections they reach' }, ...edges, ...nodes);
    const legend = h('div', { class: 'legend' },
      h('span', { class: 'l-name', text: 'name' }), h('span', { class: 'l-stale', text: 'stale name' }),
      h('span', { class: 'l-missing', text: 'registered, not in Qdrant' }), h('span', { class: 'l-coll', text: 'collection' }),
      h('span', { class: 'l-orphan', text: 'no name reaches it' }));
    return section.replaceChildren(...header, viewError('graph') || '', h('div', { class: 'graph-wrap' }, svg), legend);
  }

  function spark(days, perDay, scale) {
    const barW = 5;
    const step = 7;
    const height = 26;
    return s('svg', { class: 'spark', width: days.length * step, height, viewBox: `0 0 ${days.length * step} ${height}` },
      perDay.map((hits, i) => {
        const barH = hits ? Math.max(3, Math.round((hits / scale) * (height - 2))) : 2;
        return s('rect', { x: i * step, y: height - barH, width: barW, height: barH, class: hits ? '' : 'zero' },
          s('title', { text: `${days[i]}: ${hits} search${hits === 1 ? '' : 'es'}` }));
      }));
  }

  function renderUsage(section) {
    const usage = state.data.usage;
    const header = [h('h2', { text: 'Usage' })];
    if (!usage) return section.replaceChildren(...header, viewError('usage') || '');
    header.push(h('p', { class: 'lead', text: `Searches per day over the last ${usage.days.length} days (UTC). Stale: no search for ${usage.stale_days} days or more, counted from creation when never used — the rule of \`wqm project stale-aliases --days ${usage.stale_days}\`.` }));
    if (!usage.names.length) return section.replaceChildren(...header, h('p', { class: 'empty', text: 'No aliases yet.' }));
    const scale = Math.max(1, ...usage.names.flatMap((n) => n.per_day));
    const rows = usage.names.map((n) => h('tr', { class: n.stale ? 'stale' : '', 'data-name': n.name },
      h('td', {}, h('code', { text: n.name })),
      h('td', {}, h('code', { text: n.collection_name })),
      h('td', {}, spark(usage.days, n.per_day, scale)),
      h('td', { class: 'num', text: n.hit_count }),
      h('td', { text: when(n.last_used_at) }),
      h('td', { class: 'num', text: n.unused_days }),
      h('td', {}, n.stale ? h('span', { class: 'badge stale', text: 'stale' }) : h('span', { class: 'badge ok', text: 'in use' })),
      readOnly() ? null : h('td', {}, h('button', { class: 'small danger', 'data-action': 'remove', onclick: () => askRemove(n.name), text: 'Remove…' }))));
    const head = h('tr', {}, ['name', 'collection', `per day (${usage.days[0]} → ${usage.days[usage.days.length - 1]})`,
      'total', 'last used', 'days unused', 'state', readOnly() ? null : ''].filter((c) => c !== null).map((c) => h('th', { text: c })));
    return section.replaceChildren(...header, viewError('usage') || '', h('table', { class: 'usage' }, h('thead', {}, head), h('tbody', {}, rows)));
  }

  function renderHistory(section) {
    const timeline = state.data.timeline;
    const header = [h('h2', { text: 'History' }),
      h('p', { class: 'lead', text: 'Every alias change, newest first: who made it, why, and each name before → after. The highlighted change is the one `wqm project undo` would revert now.' })];
    if (!timeline) return section.replaceChildren(...header, viewError('timeline') || '');
    if (!timeline.entries.length) return section.replaceChildren(...header, h('p', { class: 'empty', text: 'No alias changes yet.' }));
    const items = timeline.entries.map((e) => {
      const classes = [`status-${e.status}`, e.undo_target ? 'undo-target' : '', e.undone_by ? 'undone' : ''].join(' ').trim();
      const steps = h('ul', { class: 'steps' }, e.steps.map((st) => h('li', {},
        h('code', { text: st.alias }), ': ', h('span', { class: 'badge muted', text: st.action }), ' ',
        h('code', { text: st.before || '(none)' }), h('span', { class: 'arrow', text: '→' }), h('code', { text: st.after || '(none)' }))));
      return h('li', { class: classes, 'data-change': e.change_id === null ? 'repair' : e.change_id },
        h('div', { class: 'entry-head' },
          h('strong', { text: e.change_id === null ? 'repair' : `#${e.change_id}` }),
          h('span', { class: 'badge muted', text: e.kind }),
          h('span', { class: `badge ${e.status === 'done' || e.status === 'repair' ? 'ok' : 'bad'}`, text: e.status }),
          e.undo_target ? h('span', { class: 'badge current', text: 'undo would revert this' }) : null,
          e.undone_by ? h('span', { class: 'badge muted', text: `undone by #${e.undone_by}` }) : null,
          e.undo_of ? h('span', { class: 'badge muted', text: `undo of #${e.undo_of}` }) : null,
          h('time', { datetime: e.at, text: when(e.at) })),
        h('div', { class: 'who' }, 'by ', h('b', { text: e.actor }), e.reason ? ` · ${e.reason}` : ''),
        steps,
        e.undo_target && !readOnly() ? h('div', { class: 'toolbar' },
          h('button', { class: 'small danger', 'data-action': 'undo', onclick: () => askUndo(e), text: 'Undo…' })) : null);
    });
    return section.replaceChildren(...header, viewError('timeline') || '', h('ol', { class: 'timeline' }, items));
  }

  function renderDoctor(section) {
    const report = state.data.doctor;
    const header = [h('h2', { text: 'Doctor' }),
      h('p', { class: 'lead', text: 'Whether the registry and Qdrant agree (`wqm project doctor`).' })];
    const badge = document.getElementById('doctor-count');
    if (!report) { badge.hidden = true; return section.replaceChildren(...header, viewError('doctor') || ''); }
    badge.hidden = report.ok;
    badge.textContent = String(report.remaining);
    const banner = report.ok ? h('div', { class: 'banner ok', text: 'No problems: the registry and Qdrant agree.' })
      : h('div', { class: 'banner bad', text: `${report.remaining} problem(s) remain.` });
    const findings = h('div', { class: 'findings' }, report.problems.map((p) => h('div', { class: `finding ${p.fixed ? 'fixed' : ''}`.trim() },
      h('span', { class: 'badge bad', text: p.kind }), ' ', h('code', { text: p.name }), h('div', { text: p.detail }))));
    const tools = readOnly() || report.ok ? null : h('div', { class: 'toolbar' },
      h('button', { class: 'small danger', 'data-action': 'doctor-fix', onclick: askDoctorFix, text: 'Run doctor --fix…' }));
    return section.replaceChildren(...header, viewError('doctor') || '', banner, tools || '', findings);
  }

  function render() {
    renderProjects(document.getElementById('view-projects'));
    renderGraph(document.getElementById('view-graph'));
    renderUsage(document.getElementById('view-usage'));
    renderHistory(document.getElementById('view-history'));
    renderDoctor(document.getElementById('view-doctor'));
    const v = state.version || {};
    document.body.dataset.loaded = '1';
    document.body.dataset.generation = String(v.alias_generation);
    document.body.dataset.lastChange = String(v.last_change_id);
    document.getElementById('updated').textContent =
      `Updated ${new Date().toLocaleTimeString()} · alias generation ${v.alias_generation} · last change #${v.last_change_id}`;
  }

  // -- loading and live refresh ----------------------------------------------------------------

  async function loadAll() {
    if (state.loading) { state.again = true; return; }
    state.loading = true;
    try {
      do {
        state.again = false;
        // The version first: a change made after this read shows up as a newer version.
        state.version = await getJSON('/api/version');
        const sources = { projects: '/api/projects', graph: '/api/graph', usage: '/api/usage',
          timeline: '/api/timeline', doctor: '/api/doctor' };
        await Promise.all(Object.entries(sources).map(async ([key, path]) => {
          try {
            state.data[key] = await getJSON(path);
            delete state.errors[key];
          } catch (error) {
            state.errors[key] = error.message;
          }
        }));
        render();
      } while (state.again);
    } catch (error) {
      if (error.status === 403) setLive('disconnected', 'link expired: run `wqm dashboard` again');
      toast(error.message, 'error');
    } finally {
      state.loading = false;
    }
  }

  const sameVersion = (a, b) => Boolean(a && b) && ['alias_generation', 'last_change_id', 'last_event_id', 'usage_hits']
    .every((key) => a[key] === b[key]);

  function listen() {
    const events = new EventSource(url('/api/events'));
    events.addEventListener('open', () => setLive('live'));
    events.addEventListener('version', (event) => {
      const version = JSON.parse(event.data);
      if (state.version !== null && !sameVersion(version, state.version)) loadAll();
    });
    events.addEventListener('error', () => {
      if (events.readyState === EventSource.CLOSED) setLive('disconnected', 'disconnected: run `wqm dashboard` again');
      else setLive('reconnecting', 'reconnecting…');
    });
  }

  function select(view) {
    const chosen = VIEWS.includes(view) ? view : 'projects';
    for (const tab of document.querySelectorAll('nav [role="tab"]')) {
      tab.setAttribute('aria-selected', String(tab.dataset.view === chosen));
    }
    for (const section of document.querySelectorAll('main .view')) section.hidden = section.dataset.view !== chosen;
    if (window.location.hash !== `#${chosen}`) window.history.replaceState(null, '', `${window.location.pathname}${window.location.search}#${chosen}`);
  }

  async function start() {
    for (const tab of document.querySelectorAll('nav [role="tab"]')) {
      tab.addEventListener('click', () => select(tab.dataset.view));
    }
    select(window.location.hash.slice(1));
    try {
      state.session = await getJSON('/api/session');
      document.getElementById('readonly').hidden = !state.session.read_only;
      document.getElementById('service').textContent =
        `service ${state.session.version} · pid ${state.session.pid} · ${state.session.engine}`;
    } catch (error) {
      toast(error.message, 'error');
    }
    await loadAll();
    listen();
    window.setInterval(loadAll, FULL_REFRESH_MS);
  }

  document.addEventListener('DOMContentLoaded', start);
})();
