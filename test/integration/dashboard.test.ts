/**
 * `hf-outbox dashboard` driven in real headless Chromium (Debian's chromium through puppeteer-core),
 * against the built CLI and a local-folder bucket that other "agents" write into directly.
 * Screenshots of each view (1280×800) are saved in test-artifacts/dashboard/.
 */
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { heapUsed, launchChromium, openPage, screenshot, showView } from '../helpers/browser.js';
import { cleanEnv, Daemon, runCli, waitFor } from '../helpers/cli.js';
import { hubWorkspace } from '../helpers/hub.js';
import { tmpDir, writeTree } from '../helpers/tmp.js';

// Code passed to page.evaluate runs in the browser; these names are the page's (no DOM lib in this project's types).
declare const document: any;
declare const navigator: any;

let browser: Browser;
let closeBrowser: (() => Promise<void>) | undefined;

beforeAll(async () => {
  const launched = await launchChromium();
  browser = launched.browser;
  closeBrowser = launched.close;
}, 90_000);

afterAll(async () => {
  await closeBrowser?.();
});

/** Starts `hf-outbox dashboard` on a free port; resolves with its URL. */
async function startDashboard(args: string[]): Promise<{ url: string; daemon: Daemon }> {
  const daemon = new Daemon(['dashboard', '--port', '0', '--refresh-ms', '1000', ...args], { env: cleanEnv({ HF_OUTBOX_LOG_LEVEL: 'warn' }) });
  let url: string | undefined;
  await waitFor(
    () => {
      url = /hf-outbox dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(daemon.stdout)?.[1];
      if (url === undefined && daemon.child.exitCode !== null) throw new Error(`dashboard exited ${daemon.child.exitCode}\n${daemon.stdout}\n${daemon.stderr}`);
      return url !== undefined;
    },
    30_000,
    'the dashboard to print its URL',
  );
  return { url: url as string, daemon };
}

/** A post as another agent would write it with `hf buckets cp`. */
function post(agent: string, time: Date, slug: string, frontMatter: string, body: string, claimedAgent = agent): [string, string] {
  const stamp = time.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return [`message_board/${stamp}_${slug}_${agent}.md`, `---\nagent_id: ${claimedAgent}\ntimestamp: ${time.toISOString()}\n${frontMatter}---\n${body}\n`];
}

async function texts(page: Page, selector: string): Promise<string[]> {
  return page.$$eval(selector, (els) => els.map((e) => e.textContent ?? ''));
}

describe('hf-outbox dashboard in headless Chromium', () => {
  it('shows a post published after the page opened within a few seconds, with copyable fetch commands, and this agent\'s queue', async () => {
    const root = tmpDir();
    const bucket = path.join(root, 'bucket');
    const outbox = path.join(root, 'outbox');
    const settings = ['--bucket', bucket, '--outbox', outbox, '--agent-id', 'agent-01', '--state-dir', path.join(root, 'state'), '--settle-ms', '100'];
    const t0 = Date.parse('2026-11-30T10:00:00Z');
    await writeTree(bucket, Object.fromEntries([
      post('agent-02', new Date(t0), 'baseline', 'title: Baseline eval on gsm8k\ntags: [gsm8k, baseline]\n', 'Greedy decoding, **1319** samples.'),
      post('agent-03', new Date(t0 + 3_600_000), 'prompts', 'title: CoT prompts\ntags: [data]\nartifacts:\n  - path: artifacts/data/cot_prompts_agent-03.jsonl\n    kind: file\n    size_bytes: 52000\n', 'Prompt templates.'),
    ]));
    // This agent has published before: one file uploaded, one results file rejected (with its reason).
    await writeTree(outbox, { 'scripts/prep.py': 'print("prep")\n', 'results/broken.json': '{"experiment": "x"}' });
    const first = await runCli(['sync', ...settings]);
    expect(first.code).toBe(1);

    const { url } = await startDashboard(settings);
    const { page, problems, dialogs } = await openPage(browser);
    await browser.defaultBrowserContext().overridePermissions(new URL(url).origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
    await showView(page, url, 'board');
    expect(await texts(page, 'article.post h3')).toEqual(['CoT prompts', 'Baseline eval on gsm8k']);

    // Another publish while the page is open: a script with its note, posted by a real sync.
    await writeTree(outbox, {
      'scripts/train_lora.py': 'print("train")\n',
      'scripts/train_lora.py.note.md': '---\ntitle: LoRA training script\ntags: [lora]\n---\nRun with `python train_lora.py`.\n',
    });
    await runCli(['sync', ...settings]);
    const posted = Date.now();
    await page.waitForFunction(() => document.querySelector('article.post h3')?.textContent === 'LoRA training script', { timeout: 30_000 });
    const shownAfterMs = Date.now() - posted;
    expect(shownAfterMs).toBeLessThan(10_000);
    const fresh = await page.$('article.post.new');
    expect(await fresh?.$eval('h3', (e) => e.textContent)).toBe('LoRA training script');
    // Its fetch commands: exact, and copied by the button.
    const commands = await texts(page, 'article.post.new .command code');
    const remote = path.join(bucket, 'artifacts/scripts/train_lora_agent-01.py');
    expect(commands).toEqual([`cp ${remote} ./`, `hf-outbox pull --bucket ${bucket} artifacts/scripts/train_lora_agent-01.py`]);
    await page.click('article.post.new .command button');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`cp ${remote} ./`);

    // Filter by agent and tag.
    await page.select('#agent', 'agent-02');
    await page.waitForFunction(() => document.querySelectorAll('article.post').length === 1);
    expect(await texts(page, 'article.post h3')).toEqual(['Baseline eval on gsm8k']);
    await page.select('#agent', '');
    await page.select('#tag', 'lora');
    await page.waitForFunction(() => document.querySelectorAll('article.post').length === 1 && document.querySelector('article.post h3')?.textContent === 'LoRA training script');
    await page.select('#tag', '');
    await page.waitForFunction(() => document.querySelectorAll('article.post').length === 3);
    await screenshot(page, 'board');

    // This agent: what `status` shows.
    await showView(page, url, 'agent');
    const status = JSON.parse((await runCli(['status', '--json', ...settings])).stdout) as { counts: Record<string, number> };
    const tiles = Object.fromEntries(
      await page.$$eval('#counts .tile', (els) => els.map((e) => [e.querySelector('span')?.textContent ?? '', Number(e.querySelector('strong')?.textContent)])),
    );
    expect(tiles).toEqual(status.counts);
    expect(tiles['rejected']).toBe(1);
    const problem = await texts(page, '#problems tbody tr');
    expect(problem).toHaveLength(1);
    expect(problem[0]).toContain('results/broken.json');
    expect(problem[0]).toContain('missing required field "score"');
    await screenshot(page, 'agent');
    expect(problems).toEqual([]);
    expect(dialogs).toEqual([]);
  });

  it('ranks results in the order `hf-outbox results --json` prints them, per experiment and across, with a chart per experiment', async () => {
    const root = tmpDir();
    const bucket = path.join(root, 'bucket');
    const result = (experiment: string, score: number, agent: string, hour: number, model = 'Qwen/Qwen2.5-7B') =>
      JSON.stringify({ agent_id: agent, timestamp: `2026-11-30T${String(hour).padStart(2, '0')}:00:00Z`, experiment, model, score });
    await writeTree(bucket, {
      'artifacts/results/gsm8k/lora_r16_agent-01.json': result('gsm8k LoRA r16', 0.72, 'agent-01', 9),
      'artifacts/results/gsm8k/lora_r16_v2_agent-01.json': result('gsm8k LoRA r16', 0.76, 'agent-01', 13),
      'artifacts/results/gsm8k/lora_r16_agent-02.json': result('gsm8k LoRA r16', 0.74, 'agent-02', 10),
      'artifacts/results/gsm8k/lora_r16_v3_agent-02.json': result('gsm8k LoRA r16', 0.76, 'agent-02', 15),
      'artifacts/results/gsm8k/lora_r16_agent-03.json': result('gsm8k LoRA r16', 0.69, 'agent-03', 11),
      'artifacts/results/mmlu/full_ft_agent-02.json': result('MMLU full fine-tune', 0.61, 'agent-02', 8),
      'artifacts/results/mmlu/full_ft_v2_agent-02.json': result('MMLU full fine-tune', 0.66, 'agent-02', 12),
      'artifacts/results/mmlu/full_ft_agent-04.json': result('MMLU full fine-tune', 0.64, 'agent-04', 14),
      'artifacts/results/humaneval/base_agent-03.json': result('HumanEval baseline', 0.31, 'agent-03', 7),
      'artifacts/results/humaneval/notes_agent-03.json': '{"experiment": "HumanEval baseline", "score": "0.4"}',
      'artifacts/results/broken_agent-05.json': '{"score": 1',
    });
    const cli = async (...extra: string[]) =>
      (await runCli(['results', '--json', '--bucket', bucket, ...extra])).stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { path: string }).path);

    const { url } = await startDashboard(['--bucket', bucket]);
    const { page, problems } = await openPage(browser);
    await showView(page, url, 'results');

    // Grouped by experiment: each group in the order `results --experiment <it>` prints.
    const groups = await page.$$eval('section.experiment', (els) =>
      els.map((e) => ({ experiment: e.getAttribute('data-experiment') ?? '', paths: [...e.querySelectorAll('tbody tr td:last-child')].map((td) => td.textContent ?? '') })),
    );
    expect(groups.map((g) => g.experiment).sort()).toEqual(['HumanEval baseline', 'MMLU full fine-tune', 'gsm8k LoRA r16']);
    for (const g of groups) expect(g.paths).toEqual(await cli('--experiment', g.experiment));
    // A chart per experiment with one series per agent.
    const legends = await page.$$eval('section.experiment', (els) => els.map((e) => ({ canvas: e.querySelector('canvas') !== null, series: [...e.querySelectorAll('.u-legend .u-series .u-label')].map((l) => l.textContent).filter((l) => l !== 'time') })));
    expect(legends[groups.findIndex((g) => g.experiment === 'gsm8k LoRA r16')]).toEqual({ canvas: true, series: ['agent-01', 'agent-02', 'agent-03'] });
    // Malformed files are listed apart, each with the reason.
    const skipped = await page.$$eval('#skipped tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    expect(skipped).toEqual([
      ['artifacts/results/broken_agent-05.json', expect.stringContaining('not valid JSON')],
      ['artifacts/results/humaneval/notes_agent-03.json', '"score" must be a number, got text "0.4" (write it without quotes)'],
    ]);
    await screenshot(page, 'results');

    // One ranking across experiments: exactly `results --json`; lower-is-better: `results --ascending --json`.
    const flatPaths = () => page.$$eval('#leaderboard-all tbody tr td:last-child', (tds) => tds.map((td) => td.textContent ?? ''));
    await page.click('#flat');
    await page.waitForSelector('#leaderboard-all');
    expect(await flatPaths()).toEqual(await cli());
    await page.click('#ascending');
    const ascending = await cli('--ascending');
    await page.waitForFunction((first: string) => document.querySelector('#leaderboard-all tbody tr td:last-child')?.textContent === first, {}, ascending[0] as string);
    expect(await flatPaths()).toEqual(ascending);
    expect(problems).toEqual([]);
  });

  it('renders posts and results carrying <script>, <img onerror>, javascript: links and terminal escapes as text, running none of it', async () => {
    const root = tmpDir();
    const bucket = path.join(root, 'bucket');
    // Anything that runs would call this server (or open a dialog): it must hear nothing.
    const hits: string[] = [];
    const canary: Server = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.end();
    });
    await new Promise<void>((resolve) => canary.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => canary.close(() => resolve())));
    const c = `http://127.0.0.1:${(canary.address() as AddressInfo).port}`;
    const esc = '\u001b';
    const payload = (tag: string) =>
      `<script>fetch('${c}/${tag}-script');alert('${tag}')</script>\n\n` +
      `Text then <img src=x onerror="fetch('${c}/${tag}-img')"> inline.\n\n` +
      `Links: [click me](javascript:alert(1)) [or me](javascript:fetch('${c}/${tag}-link')) [a real link](https://huggingface.co/docs) ` +
      `<a href="javascript:fetch('${c}/${tag}-a')">also me</a>\n\n${esc}[31mRED${esc}[0m ${esc}]52;c;cHduZWQ=${esc}\\ \u202Eevil`;
    await writeTree(bucket, Object.fromEntries([
      post(
        'agent-06',
        new Date('2026-11-30T12:00:00Z'),
        'hostile',
        `title: "<script>fetch('${c}/title')</script> ${esc}[2J title"\ntags: ["<img src=x onerror=fetch('${c}/tag')>", "${esc}[31mred"]\n` +
          `artifacts:\n  - path: "artifacts/scripts/<img src=x onerror=alert(7)>_agent-06.py"\n    size_bytes: 10\n  - path: "../../etc/passwd"\n`,
        `# Hello\n\n${payload('body')}\n\n<iframe src="${c}/iframe"></iframe>\n\n<style>body{background:url(${c}/css)}</style>`,
        'agent-01',
      ),
      ['artifacts/results/x/hostile_agent-06.json', JSON.stringify({ agent_id: 'agent-06', experiment: `<script>fetch('${c}/exp')</script>${esc}[31m`, score: 0.5, model: `<img src=x onerror="fetch('${c}/model')">`, timestamp: '2026-11-30T12:00:00Z' })],
      ['artifacts/results/x/<img src=x onerror=alert(8)>_agent-06.json', `{"experiment": "<script>alert(1)</script>"}`],
    ]));

    const { url } = await startDashboard(['--bucket', bucket]);
    const { page, problems, dialogs } = await openPage(browser);
    await showView(page, url, 'board');
    const article = (await page.$('article.post')) as NonNullable<Awaited<ReturnType<Page['$']>>>;
    // Shown as the text it is: tags, title, markup, escapes (ESC as ␛, the bidi override named).
    expect(await article.$eval('h3', (e) => e.textContent)).toBe(`<script>fetch('${c}/title')</script> \\x1b[2J title`);
    // The author is the file name's agent; the front matter's other agent id is shown as a claim.
    expect(await article.$eval('header', (e) => e.textContent)).toContain('agent-06claims to be agent-01');
    expect(await article.$$eval('.tag', (els) => els.map((e) => e.textContent))).toEqual([`<img src=x onerror=fetch('${c}/tag')>`, '\\x1b[31mred']);
    const body = (await article.$eval('.body', (e) => e.textContent)) ?? '';
    expect(body).toContain(`<script>fetch('${c}/body-script');alert('body')</script>`);
    expect(body).toContain(`Text then <img src=x onerror="fetch('${c}/body-img')"> inline.`);
    expect(body).toContain(`<a href="javascript:fetch('${c}/body-a')">also me</a>`);
    expect(body).toContain('\\x1b[31mRED\\x1b[0m \\x1b]52;c;cHduZWQ=\\x1b\\ \\u202eevil');
    expect(body).toContain('<iframe');
    // Nothing active reached the document; the javascript: links are plain text, also when clicked.
    const active = await page.evaluate(() => ({
      scripts: document.querySelectorAll('main script, main iframe, main img, main style, main object, main embed').length,
      handlers: [...document.querySelectorAll('main *')].filter((e) => [...e.attributes].some((a) => a.name.startsWith('on') || /javascript:/i.test(a.value))).length,
      links: [...document.querySelectorAll('main a')].map((a) => a.getAttribute('href')),
    }));
    expect(active).toEqual({ scripts: 0, handlers: 0, links: [null, null, 'https://huggingface.co/docs'] });
    for (const a of await page.$$('main .body a:not([href])')) await a.click();
    // An unsafe artifact path gets no fetch command.
    expect(await article.$$eval('.artifacts li', (els) => els.map((e) => e.querySelector('.warn')?.textContent ?? 'command'))).toEqual(['command', 'no fetch command: not under artifacts/']);
    await screenshot(page, 'board-hostile');

    await showView(page, url, 'results');
    const row = await page.$$eval('section.experiment tbody tr td', (tds) => tds.map((td) => td.textContent));
    expect(row).toContain(`<img src=x onerror="fetch('${c}/model')">`);
    expect(await page.$eval('section.experiment h3', (e) => e.textContent)).toContain(`<script>fetch('${c}/exp')</script>\\x1b[31m`);
    expect(await page.$$eval('#skipped td', (tds) => tds.map((td) => td.textContent))).toEqual([
      'artifacts/results/x/<img src=x onerror=alert(8)>_agent-06.json',
      'missing required field "score" (a number)',
    ]);
    await showView(page, url, 'artifacts');
    await new Promise((r) => setTimeout(r, 1000));
    expect(hits).toEqual([]);

    // Every answer carries the policy; nothing but GET; no answer to another site's name (DNS rebinding).
    const csp = (await fetch(url)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("require-trusted-types-for 'script'");
    expect((await fetch(`${url}api/board`, { method: 'POST' })).status).toBe(405);
    const rebound = await new Promise<number>((resolve, reject) => {
      const u = new URL(url);
      const req = request({ host: u.hostname, port: u.port, path: '/api/board', headers: { Host: `attacker.example:${u.port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(rebound).toBe(421);
    expect(dialogs).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("follows this agent live: the running sync and its pid, an upload held in flight, then counted as uploaded once it lands", async () => {
    const t = await hubWorkspace();
    await writeTree(t.outbox, { 'data/big.bin': randomBytes(2 * 1024 * 1024) });
    const { url } = await startDashboard(t.args());
    const { page, problems } = await openPage(browser);
    await showView(page, url, 'agent');
    const xorbs = t.emu.hold('xorb');
    const sync = new Daemon(['sync', ...t.args()]);
    await xorbs.arrived();
    const tile = (state: string) =>
      page.evaluate((s: string) => [...document.querySelectorAll('#counts .tile')].find((e: any) => e.querySelector('span')?.textContent === s)?.querySelector('strong')?.textContent, state);
    await page.waitForFunction(() => /running \(pid \d+/.test(document.querySelector('#daemon')?.textContent ?? ''), { timeout: 30_000 });
    expect(await page.$eval('#daemon', (e) => e.textContent)).toContain(`hf-outbox sync running (pid ${sync.child.pid}`);
    expect(await tile('uploading')).toBe('1');
    expect(await page.$eval('#uploading tbody', (e) => e.textContent)).toContain('artifacts/data/big_agent-01.bin');
    await screenshot(page, 'agent-live');
    xorbs.release();
    expect(await sync.exited).toBe(0);
    await page.waitForFunction(() => /no hf-outbox process is running/.test(document.querySelector('#daemon')?.textContent ?? ''), { timeout: 30_000 });
    expect(await tile('uploaded')).toBe('1');
    expect(await tile('uploading')).toBe('0');
    expect(await page.$('#uploading')).toBeNull();
    expect(problems).toEqual([]);
  });

  it('works with 1,000 posts and 100,000 files, the tab staying under 64 MB of JS heap and 20,000 DOM nodes', async () => {
    // A big bucket is cheapest on tmpfs when there is one.
    const base = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/hfo-dash-') : tmpDir();
    onTestFinished(() => rmSync(base, { recursive: true, force: true }));
    const bucket = path.join(base, 'bucket');
    const board = path.join(bucket, 'message_board');
    mkdirSync(board, { recursive: true });
    const t0 = Date.parse('2026-11-01T00:00:00Z');
    for (let i = 0; i < 1000; i++) {
      const agent = `agent-${String(i % 12).padStart(2, '0')}`;
      const [p, text] = post(agent, new Date(t0 + i * 60_000), `post-${i}`, `title: Post number ${i}\ntags: [t${i % 5}]\n`, `Body of post ${i}.\n\n- a list\n- of things`);
      writeFileSync(path.join(bucket, p), text);
    }
    for (let d = 0; d < 1000; d++) {
      const dir = path.join(bucket, 'artifacts', d % 10 === 0 ? 'checkpoints' : 'data', `set_${d}_agent-${String(d % 12).padStart(2, '0')}`, ...(d % 10 === 0 ? [`checkpoint-${d}`] : []));
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 100; i++) writeFileSync(path.join(dir, `part-${i}.bin`), '');
    }

    const { url } = await startDashboard(['--bucket', bucket]);
    const { page, problems } = await openPage(browser);
    const started = Date.now();
    await showView(page, url, 'board');
    const boardMs = Date.now() - started;
    expect(await page.$eval('#board-count', (e) => e.textContent)).toBe('1000 of 1000 posts, newest first');
    expect(await texts(page, 'article.post h3')).toHaveLength(50);
    expect((await texts(page, 'article.post h3'))[0]).toBe('Post number 999');
    await page.click('#more');
    await page.waitForFunction(() => document.querySelectorAll('article.post').length === 100);
    const boardHeap = await heapUsed(page);

    const listed = Date.now();
    await showView(page, url, 'artifacts');
    const artifactsMs = Date.now() - listed;
    expect(await page.$eval('#artifact-totals', (e) => e.textContent)).toBe('100,000 files, 0 B in artifacts/');
    expect(await page.$eval('#unit-range', (e) => e.textContent)).toBe('1–100 of 1,000');
    await page.$$eval('.pager button', (bs) => (bs[1] as { click(): void }).click());
    await page.waitForFunction(() => document.querySelector('#unit-range')?.textContent === '101–200 of 1,000');
    expect(await page.$$eval('#runs .run', (r) => r.length)).toBe(20);
    expect(await page.$eval('#runs h3', (e) => e.textContent)).toBe('Checkpoint series (the 20 most recently updated of 100)');
    await screenshot(page, 'artifacts');
    const artifactsHeap = await heapUsed(page);
    const nodes = (await page.metrics()).Nodes ?? Number.NaN;

    console.log(
      `dashboard at scale: board (1,000 posts) shown in ${boardMs} ms, heap ${(boardHeap / 2 ** 20).toFixed(1)} MiB; ` +
        `artifacts (100,000 files) shown in ${artifactsMs} ms, heap ${(artifactsHeap / 2 ** 20).toFixed(1)} MiB, ${nodes} DOM nodes`,
    );
    expect(boardHeap).toBeLessThan(64 * 2 ** 20);
    expect(artifactsHeap).toBeLessThan(64 * 2 ** 20);
    expect(nodes).toBeLessThan(20_000);
    expect(problems).toEqual([]);
  });
});
