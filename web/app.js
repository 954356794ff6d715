// @ts-check
/**
 * The dashboard page: four views over the server's read-only JSON API, kept live by server-sent
 * events (the server reads the bucket at a bounded rate and says when what a view shows changed).
 * Everything is built with el() (text only) or markdown() (sanitized); see render.js.
 */
import uPlot from '/vendor/uplot.js';
import { ago, copyCommand, el, formatBytes, formatTime, markdown } from '/render.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const live = /** @type {HTMLElement} */ (document.getElementById('live'));
const banner = /** @type {HTMLElement} */ (document.getElementById('banner'));
const where = /** @type {HTMLElement} */ (document.getElementById('where'));

const VIEWS = ['board', 'results', 'artifacts', 'agent'];
const PAGE = 50;

/** What each view asks for; kept across live reloads. */
const state = {
  view: 'board',
  board: { agent: '', tag: '', limit: PAGE, seen: /** @type {Set<string> | null} */ (null) },
  results: { ascending: false, flat: false },
  artifacts: { category: '', agent: '', offset: 0 },
};

/** @type {EventSource | null} */
let events = null;
let version = -1;
let loading = false;
let again = false;
/** @type {Array<{ destroy(): void }>} */
let charts = [];

/** @param {string} path @param {Record<string, string | number | boolean>} [params] */
async function api(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== false) q.set(k, String(v === true ? 1 : v));
  const res = await fetch(`${path}${q.size > 0 ? `?${q}` : ''}`, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

function currentView() {
  const v = location.hash.replace(/^#/, '');
  return VIEWS.includes(v) ? v : 'board';
}

function follow() {
  events?.close();
  version = -1;
  events = new EventSource(`/events?view=${state.view}`);
  events.addEventListener('changed', (e) => {
    const info = JSON.parse(/** @type {MessageEvent} */ (e).data);
    live.textContent = `live · read ${new Date(info.readAt || Date.now()).toLocaleTimeString()}`;
    live.className = 'live ok';
    if (info.version !== version) {
      version = info.version;
      void load();
    }
  });
  events.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.className = 'live down';
  });
}

async function load() {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    do {
      again = false;
      await show(state.view);
    } while (again);
  } catch (error) {
    showBanner(`Could not load this view: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    loading = false;
  }
}

/** @param {string} text */
function showBanner(text) {
  banner.textContent = text;
  banner.hidden = false;
}

/** @param {{ error: string | null, okAt: string | null }} source @param {string} what */
function sourceBanner(source, what) {
  if (source.error) showBanner(`Could not read ${what}: ${source.error}${source.okAt ? ` — showing what was read at ${formatTime(source.okAt)}` : ''}`);
  else banner.hidden = true;
}

/** @param {string} view */
async function show(view) {
  const keepScroll = window.scrollY;
  let content;
  if (view === 'board') content = await boardView();
  else if (view === 'results') content = await resultsView();
  else if (view === 'artifacts') content = await artifactsView();
  else content = await agentView();
  if (view !== state.view) return;
  for (const c of charts) c.destroy();
  charts = [];
  main.replaceChildren(content);
  main.dataset['view'] = view;
  main.dataset['version'] = String(version);
  afterRender.splice(0).forEach((f) => f());
  window.scrollTo(0, keepScroll);
}

/** Work that needs the content in the document (charts measure their box). @type {Array<() => void>} */
const afterRender = [];

// -------------------------------------------------------------------------------------------
// Board
// -------------------------------------------------------------------------------------------

async function boardView() {
  const s = state.board;
  const data = await api('/api/board', { agent: s.agent, tag: s.tag, limit: s.limit });
  sourceBanner(data.source, 'the message board');
  const firstLoad = s.seen === null;
  const seen = s.seen ?? new Set();

  const agentSelect = select('agent', 'All agents', data.agents.map((/** @type {any} */ a) => [a.id, `${a.id} (${a.count})`]), s.agent, (v) => {
    s.agent = v;
    s.limit = PAGE;
    void load();
  });
  const tagSelect = select('tag', 'All tags', data.tags.map((/** @type {any} */ t) => [t.tag, `${t.tag} (${t.count})`]), s.tag, (v) => {
    s.tag = v;
    s.limit = PAGE;
    void load();
  });
  const head = el(
    'div',
    { class: 'toolbar' },
    el('h2', { text: 'Message board' }),
    agentSelect,
    tagSelect,
    el('span', { class: 'muted', id: 'board-count', text: `${data.matching} of ${data.total} posts, newest first` }),
  );
  const list = el('div', { class: 'feed', id: 'feed' });
  for (const p of data.posts) {
    const fresh = !firstLoad && !seen.has(p.path);
    list.append(post(p, fresh));
    seen.add(p.path);
  }
  s.seen = seen;
  if (data.posts.length === 0) list.append(el('p', { class: 'muted', text: data.total === 0 ? 'No posts on the board yet.' : 'No post matches.' }));
  const more =
    data.matching > data.posts.length
      ? el('button', { type: 'button', class: 'more', id: 'more', text: `Show ${Math.min(PAGE, data.matching - data.posts.length)} more (${data.matching - data.posts.length} older)` })
      : null;
  more?.addEventListener('click', () => {
    s.limit += PAGE;
    void load();
  });
  return el('section', {}, head, list, more);
}

/** @param {any} p @param {boolean} fresh */
function post(p, fresh) {
  const header = el(
    'header',
    {},
    el('time', { datetime: p.timestamp ?? '', title: p.timestamp ?? '', text: `${formatTime(p.timestamp)} · ${ago(p.timestamp)}` }),
    el('span', { class: 'agent', text: p.agentId ?? '?' }),
    p.claimedAgentId ? el('span', { class: 'claim', title: 'The post says it is by another agent than its file name; the file name is the author.', text: `claims to be ${p.claimedAgentId}` }) : null,
    p.future ? el('span', { class: 'claim', text: 'dated in the future' }) : null,
    ...p.tags.map((/** @type {string} */ t) => el('span', { class: 'tag', text: t })),
    fresh ? el('span', { class: 'new-badge', text: 'new' }) : null,
  );
  const arts = p.artifacts.length === 0 ? null : el('ul', { class: 'artifacts' }, ...p.artifacts.map(artifact));
  const body = el('div', { class: 'body' });
  body.append(markdown(p.body));
  if (p.bodyTruncated) body.append(el('p', { class: 'muted', text: '… (cut here: the post is longer than the dashboard shows)' }));
  return el(
    'article',
    { class: `post${fresh ? ' new' : ''}`, 'data-path': p.path },
    header,
    el('h3', { text: p.title }),
    p.supersedes ? el('p', { class: 'muted', text: `updates ${p.supersedes}` }) : null,
    p.checkpoint ? checkpointFacts(p.checkpoint) : null,
    arts,
    body,
    el('footer', { class: 'muted', text: p.path }),
  );
}

/** @param {any} c */
function checkpointFacts(c) {
  return el(
    'p',
    { class: 'checkpoint' },
    el('strong', { text: `${c.name} · step ${c.step}` }),
    ...c.metrics.map((/** @type {any} */ m) => el('span', { class: 'metric', text: `${m.name} ${typeof m.value === 'number' ? fmtNum(m.value) : m.value}` })),
  );
}

/** @param {any} a */
function artifact(a) {
  const facts = [];
  if (a.kind === 'directory') facts.push(a.fileCount === null ? 'folder' : `folder, ${a.fileCount} file${a.fileCount === 1 ? '' : 's'}`);
  if (a.sizeBytes !== null) facts.push(formatBytes(a.sizeBytes));
  return el(
    'li',
    {},
    el('code', { class: 'path', text: a.kind === 'directory' && !a.path.endsWith('/') ? `${a.path}/` : a.path }),
    facts.length > 0 ? el('span', { class: 'size', text: ` ${facts.join(', ')}` }) : null,
    a.fetch ? copyCommand('copy', a.fetch) : el('p', { class: 'warn', text: `no fetch command: ${a.unsafe}` }),
    a.pull ? copyCommand('copy', a.pull) : null,
  );
}

// -------------------------------------------------------------------------------------------
// Results
// -------------------------------------------------------------------------------------------

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];

async function resultsView() {
  const s = state.results;
  const data = await api('/api/results', { ascending: s.ascending });
  sourceBanner(data.source, 'the results');
  const head = el(
    'div',
    { class: 'toolbar' },
    el('h2', { text: 'Leaderboard' }),
    checkbox('ascending', 'lower score is better', s.ascending, (v) => {
      s.ascending = v;
      void load();
    }),
    checkbox('flat', 'one ranking across experiments', s.flat, (v) => {
      s.flat = v;
      void load();
    }),
    el('span', { class: 'muted', text: `${data.total} results in ${data.experiments.length} experiments${data.skipped.length ? `, ${data.skipped.length} files skipped` : ''}` }),
  );
  const parts = [head];
  if (data.total === 0) parts.push(el('p', { class: 'muted', text: 'No results in artifacts/results/ yet.' }));
  if (s.flat) {
    parts.push(leaderboard(data.ranked, true, 'leaderboard-all'));
  } else {
    data.experiments.forEach((/** @type {any} */ x, /** @type {number} */ i) => {
      const chartBox = el('div', { class: 'chart' });
      const section = el(
        'section',
        { class: 'experiment', 'data-experiment': x.experiment },
        el('h3', {}, el('span', { text: x.experiment }), el('span', { class: 'muted', text: ` · ${x.rows.length} result${x.rows.length === 1 ? '' : 's'}` })),
        chartBox,
        leaderboard(x.rows, false, `leaderboard-${i}`),
      );
      if (x.series.length > 0) afterRender.push(() => chart(chartBox, x.series));
      parts.push(section);
    });
  }
  if (data.skipped.length > 0) {
    parts.push(
      el('h3', { text: 'Not on the leaderboard' }),
      table(['file', 'why'], data.skipped.map((/** @type {any} */ k) => [el('code', { text: k.path }), k.reason]), 'skipped'),
    );
  }
  return el('section', {}, ...parts);
}

/** @param {any[]} rows @param {boolean} withExperiment @param {string} id */
function leaderboard(rows, withExperiment, id) {
  const headers = ['rank', 'score', 'agent', ...(withExperiment ? ['experiment'] : []), 'model', 'time', 'file'];
  return table(
    headers,
    rows.map((r) => [
      String(r.rank),
      fmtNum(r.score),
      el('span', {}, el('span', { class: 'agent', text: r.agentId }), r.claimedAgentId ? el('span', { class: 'claim', text: ` claims to be ${r.claimedAgentId}` }) : null),
      ...(withExperiment ? [r.experiment] : []),
      r.model ?? '',
      r.timestamp ? formatTime(r.timestamp) : '',
      el('code', { text: r.path }),
    ]),
    id,
    'leaderboard',
  );
}

/** Score over time, one line per agent. @param {HTMLElement} box @param {Array<{ agent: string, points: Array<[number, number]> }>} series */
function chart(box, series) {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0] / 1000)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys = series.map((s) => {
    /** @type {Array<number | null>} */
    const y = xs.map(() => null);
    for (const [t, v] of s.points) y[/** @type {number} */ (index.get(t / 1000))] = v;
    return y;
  });
  const opts = {
    width: Math.max(320, box.clientWidth || 900),
    height: 200,
    scales: { x: { time: true } },
    legend: { live: false },
    series: [
      { label: 'time' },
      ...series.map((s, i) => ({ label: s.agent, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true, points: { show: true, size: 7 } })),
    ],
  };
  charts.push(new uPlot(opts, [xs, ...ys], box));
}

// -------------------------------------------------------------------------------------------
// Artifacts
// -------------------------------------------------------------------------------------------

async function artifactsView() {
  const s = state.artifacts;
  const data = await api('/api/artifacts', { category: s.category, agent: s.agent, offset: s.offset, limit: 100 });
  sourceBanner(data.source, 'the artifacts listing');
  const agents = [...new Set(data.categories.flatMap((/** @type {any} */ c) => c.agents.map((/** @type {any} */ a) => a.agent)))].sort();
  const head = el(
    'div',
    { class: 'toolbar' },
    el('h2', { text: 'Artifacts' }),
    select('category', 'All categories', data.categories.map((/** @type {any} */ c) => [c.name, c.name]), s.category, (v) => {
      s.category = v;
      s.offset = 0;
      void load();
    }),
    select('artifact-agent', 'All agents', agents.map((a) => [a, a]), s.agent, (v) => {
      s.agent = v;
      s.offset = 0;
      void load();
    }),
    el('span', { class: 'muted', id: 'artifact-totals', text: `${data.totalFiles.toLocaleString('en')} files, ${formatBytes(data.totalBytes)} in artifacts/` }),
  );
  const cards = el(
    'div',
    { class: 'cards' },
    ...data.categories.map((/** @type {any} */ c) =>
      el(
        'div',
        { class: 'card', 'data-category': c.name },
        el('h3', { text: c.name }),
        el('p', { text: `${c.units.toLocaleString('en')} artifact${c.units === 1 ? '' : 's'} · ${c.files.toLocaleString('en')} files · ${formatBytes(c.bytes)}` }),
        el('ul', {}, ...c.agents.slice(0, 5).map((/** @type {any} */ a) => el('li', {}, el('span', { class: 'agent', text: a.agent }), ` ${a.units.toLocaleString('en')} artifact${a.units === 1 ? '' : 's'} · ${a.files.toLocaleString('en')} files · ${formatBytes(a.bytes)}`))),
        c.agents.length > 5 ? el('p', { class: 'muted', text: `and ${c.agents.length - 5} more agents` }) : null,
      ),
    ),
  );
  const runs =
    data.runs.length === 0
      ? null
      : el(
          'section',
          { id: 'runs' },
          el('h3', { text: data.runCount > data.runs.length ? `Checkpoint series (the ${data.runs.length} most recently updated of ${data.runCount})` : 'Checkpoint series' }),
          ...data.runs.map((/** @type {any} */ r) =>
            el(
              'div',
              { class: 'run' },
              el('p', {}, el('code', { text: `${r.path}/` }), ' ', el('span', { class: 'agent', text: r.agent })),
              table(
                ['checkpoint', 'step', 'files', 'size', 'metrics (from its post)'],
                r.checkpoints.map((/** @type {any} */ c) => [
                  c.name,
                  String(c.step),
                  String(c.files),
                  formatBytes(c.bytes),
                  c.metrics.length === 0 ? el('span', { class: 'muted', text: c.post ? '—' : 'no post' }) : el('span', {}, ...c.metrics.map((/** @type {any} */ m) => el('span', { class: 'metric', text: `${m.name} ${typeof m.value === 'number' ? fmtNum(m.value) : m.value}` }))),
                ]),
              ),
            ),
          ),
        );
  const u = data.units;
  const pager = el(
    'div',
    { class: 'pager' },
    el('span', { class: 'muted', id: 'unit-range', text: u.matching === 0 ? 'nothing here' : `${u.offset + 1}–${u.offset + u.items.length} of ${u.matching.toLocaleString('en')}` }),
    pageButton('← previous', u.offset > 0, () => (s.offset = Math.max(0, s.offset - 100))),
    pageButton('next →', u.offset + u.items.length < u.matching, () => (s.offset += 100)),
  );
  const units = table(
    ['artifact', 'agent', 'files', 'size', 'updated', 'get it'],
    u.items.map((/** @type {any} */ x) => [
      el('code', { text: x.kind === 'directory' ? `${x.path}/` : x.path }),
      el('span', { class: 'agent', text: x.agent }),
      String(x.files),
      formatBytes(x.bytes),
      x.updated ? formatTime(x.updated) : '',
      x.fetch ? copyCommand('copy', x.fetch) : '',
    ]),
    'units',
  );
  return el('section', {}, head, cards, runs, el('h3', { text: 'Files and folders' }), pager, units);
}

/** @param {string} label @param {boolean} enabled @param {() => void} go */
function pageButton(label, enabled, go) {
  const b = el('button', { type: 'button', disabled: !enabled, text: label });
  b.addEventListener('click', () => {
    go();
    void load();
  });
  return b;
}

// -------------------------------------------------------------------------------------------
// This agent
// -------------------------------------------------------------------------------------------

async function agentView() {
  const data = await api('/api/agent');
  sourceBanner(data.source, "this agent's state");
  const st = data.status;
  const meta = await metaOnce();
  if (!st || !st.found) {
    return el(
      'section',
      {},
      el('h2', { text: `This agent (${meta.agentId})` }),
      el('p', { text: `No state database in ${st?.stateDir ?? meta.stateDir}: nothing has been published from this machine with these settings.` }),
      el('p', { class: 'muted', text: 'Start the dashboard with the settings the daemon uses (the same --config, or --outbox, --bucket, --agent-id and --state-dir) to see its queue here.' }),
    );
  }
  const r = st.report;
  const counts = el('div', { class: 'tiles', id: 'counts' }, ...Object.entries(r.counts).map(([k, v]) => el('div', { class: `tile state-${k}` }, el('strong', { text: String(v) }), el('span', { text: k }))));
  const facts = el(
    'ul',
    { class: 'facts' },
    el('li', { text: `outbox ${r.outbox} → ${r.bucket}` }),
    el('li', { text: `pending ${formatBytes(r.bytesPending)} · throughput ${formatBytes(r.throughputBytesPerSecond)}/s over the last minute` }),
    el('li', { text: r.lastSuccess ? `last upload ${formatTime(r.lastSuccess.at)} (${ago(r.lastSuccess.at)}): ${r.lastSuccess.remote}` : 'no upload yet' }),
    ...extraFacts(r),
  );
  const waiting = (st.uploadingFiles ?? []).filter((/** @type {any} */ f) => !r.uploading.some((/** @type {any} */ u) => u.remote === f.remote));
  const uploading =
    r.uploading.length === 0 && waiting.length === 0
      ? el('p', { class: 'muted', text: 'Nothing in flight.' })
      : table(
          ['file', 'progress', 'acknowledged by the Hub', 'rate'],
          [
            ...r.uploading.map((/** @type {any} */ u) => [
              el('code', { text: u.remote }),
              el('progress', { max: 100, value: u.percent, title: `${u.percent}%` }),
              `${formatBytes(u.bytesDone)} of ${formatBytes(u.bytesTotal)} (${u.percent}%)`,
              `${formatBytes(u.bytesPerSecond)}/s`,
            ]),
            ...waiting.map((/** @type {any} */ f) => [el('code', { text: f.remote }), el('progress', { max: 100, value: 0 }), 'sending; nothing acknowledged yet', '']),
          ],
          'uploading',
        );
  const interrupted =
    (r.interrupted ?? []).length === 0
      ? null
      : table(
          ['file', 'sent when it stopped'],
          r.interrupted.map((/** @type {any} */ u) => [el('code', { text: u.remote }), `${formatBytes(u.bytesDone)} of ${formatBytes(u.bytesTotal)} (${u.percent}%)`]),
          'interrupted',
        );
  const problems =
    st.problemCount === 0
      ? el('p', { class: 'muted', text: 'No failed, rejected or conflicting files.' })
      : table(
          ['state', 'local file', 'bucket path', 'why'],
          st.problems.map((/** @type {any} */ p) => [el('span', { class: `state state-${p.state}`, text: p.state }), el('code', { text: p.local }), el('code', { text: p.remote }), p.error ?? '']),
          'problems',
        );
  const notes = r.announcements.filter((/** @type {any} */ a) => a.state !== 'posted');
  return el(
    'section',
    {},
    el('h2', { text: `This agent (${r.agentId})` }),
    counts,
    facts,
    el('h3', { text: 'In flight' }),
    uploading,
    interrupted ? el('h3', { text: 'Cut off (resumed at the next start)' }) : null,
    interrupted,
    el('h3', { text: `Problems${st.problemCount > st.problems.length ? ` (first ${st.problems.length} of ${st.problemCount})` : ''}` }),
    problems,
    notes.length === 0 ? null : el('h3', { text: 'Notes not posted' }),
    notes.length === 0 ? null : table(['note', 'state', 'why'], notes.map((/** @type {any} */ a) => [el('code', { text: a.source }), a.state, a.reason ?? '']), 'notes'),
  );
}

/** Whether a daemon runs on this state, and the Hub breaker as that process sees it. @param {any} r */
function extraFacts(r) {
  const out = [];
  const d = r.daemon;
  if (d) {
    out.push(
      el('li', {
        id: 'daemon',
        class: d.running ? '' : 'warn',
        text: d.running ? `hf-outbox ${d.command ?? ''} running (pid ${d.pid ?? '?'}${d.startedAt ? `, since ${formatTime(d.startedAt)}` : ''})` : 'no hf-outbox process is running on this state',
      }),
    );
  }
  const h = r.hub;
  if (h) {
    out.push(
      el('li', {
        id: 'breaker',
        class: h.unreachableSince ? 'bad' : '',
        text: h.unreachableSince
          ? `Hub unreachable since ${formatTime(h.unreachableSince)} (${ago(h.unreachableSince)}): requests paused${h.nextProbeAt ? `, next probe ${formatTime(h.nextProbeAt)}` : ''}`
          : d?.running ? 'Hub reachable (breaker closed)' : 'Hub state unknown (no process running)',
      }),
    );
    for (const e of (h.lastNetworkErrors ?? []).slice(0, 5)) out.push(el('li', { class: 'muted', text: `network error ${formatTime(e.at)}: ${e.error}` }));
  }
  return out;
}

/** @type {Promise<any> | null} */
let meta = null;
function metaOnce() {
  meta ??= api('/api/meta');
  return meta;
}

// -------------------------------------------------------------------------------------------
// Small widgets
// -------------------------------------------------------------------------------------------

/** @param {string} id @param {string} all @param {Array<[string, string]>} options @param {string} value @param {(v: string) => void} onChange */
function select(id, all, options, value, onChange) {
  const s = /** @type {HTMLSelectElement} */ (el('select', { id, 'aria-label': all }, el('option', { value: '', text: all })));
  for (const [v, label] of options) s.append(el('option', { value: v, text: label }));
  if (value !== '' && !options.some(([v]) => v === value)) s.append(el('option', { value, text: value }));
  s.value = value;
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

/** @param {string} id @param {string} label @param {boolean} checked @param {(v: boolean) => void} onChange */
function checkbox(id, label, checked, onChange) {
  const box = /** @type {HTMLInputElement} */ (el('input', { type: 'checkbox', id, checked }));
  box.addEventListener('change', () => onChange(box.checked));
  return el('label', { class: 'check' }, box, ` ${label}`);
}

/** @param {string[]} headers @param {Array<Array<Node | string>>} rows @param {string} [id] @param {string} [cls] */
function table(headers, rows, id, cls) {
  return el(
    'table',
    { id, class: cls },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((c) => el('td', {}, c))))),
  );
}

/** @param {number} n */
function fmtNum(n) {
  return Number.isInteger(n) ? String(n) : Number(n.toPrecision(6)).toString();
}

// -------------------------------------------------------------------------------------------
// Start
// -------------------------------------------------------------------------------------------

function route() {
  state.view = currentView();
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.getAttribute('data-view') === state.view);
  main.replaceChildren(el('p', { class: 'muted', text: 'Loading…' }));
  delete main.dataset['view'];
  follow();
}

window.addEventListener('hashchange', route);
metaOnce().then(
  (m) => (where.textContent = `${m.bucket} · as ${m.agentId}`),
  () => undefined,
);
route();
