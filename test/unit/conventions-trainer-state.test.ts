import { describe, expect, it } from 'vitest';
import { MAX_TRAINER_STATE_BYTES, checkpointStep, formatMetric, parseTrainerState } from '../../src/conventions/trainer-state.js';
import { REAL_TRAINER_STATE as REAL } from '../fixtures/trainer-state.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('parseTrainerState reads the metrics a checkpoint post shows', () => {
  it('latest loss and eval loss with their steps, other eval metrics, best metric and best checkpoint', () => {
    const r = parseTrainerState(bytes(REAL));
    expect(r).toEqual({
      ok: true,
      summary: {
        globalStep: 300,
        maxSteps: 400,
        epoch: 0.75,
        loss: { value: 0.8123, step: 300 },
        evalLoss: { value: 0.53, step: 300 },
        evalMetrics: [{ name: 'eval_accuracy', value: 0.65 }],
        bestMetric: 0.5125,
        bestGlobalStep: 200,
        bestCheckpoint: 'checkpoint-200',
        warnings: [],
      },
    });
  });

  it('a diverged run: Python\'s bare NaN and Infinity tokens are read as numbers, not a parse error', () => {
    const r = parseTrainerState(bytes('{"global_step": 5, "log_history": [{"loss": NaN, "step": 5}, {"eval_loss": Infinity, "note": "NaN stays text", "step": 5}], "best_metric": -Infinity}'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.summary.loss?.value).toBeNaN();
    expect(r.summary.evalLoss?.value).toBe(Number.POSITIVE_INFINITY);
    // best_metric must be finite to be shown.
    expect(r.summary.bestMetric).toBeUndefined();
    expect(r.summary.warnings).toEqual(['best_metric is not a number; left out']);
  });

  it('the first state of a run (no logs, no evaluation, nulls) is valid and empty', () => {
    const r = parseTrainerState(bytes('{"global_step": 0, "log_history": [], "best_metric": null, "best_model_checkpoint": null, "epoch": null}'));
    expect(r).toMatchObject({ ok: true, summary: { globalStep: 0, loss: undefined, evalLoss: undefined, bestMetric: undefined, bestCheckpoint: undefined, warnings: [] } });
  });

  it.each<[string, string, RegExp]>([
    ['truncated JSON', '{"global_step": 3, "log_hist', /not valid JSON/],
    ['a list instead of an object', '[1, 2, 3]', /not hold a JSON object/],
    ['null', 'null', /not hold a JSON object/],
    ['text', '"hello"', /not hold a JSON object/],
  ])('%s is an error that names the file', (_name, text, error) => {
    const r = parseTrainerState(bytes(text));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('refuses a file larger than the limit without parsing it, and bytes that are not UTF-8', () => {
    const big = new Uint8Array(MAX_TRAINER_STATE_BYTES + 1);
    expect(parseTrainerState(big)).toEqual({ ok: false, error: expect.stringMatching(/more than the \d+ read/) });
    expect(parseTrainerState(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))).toEqual({ ok: false, error: 'trainer_state.json is not UTF-8 text' });
  });

  it('hostile field types are left out with a warning, never thrown or passed through', () => {
    const r = parseTrainerState(
      bytes(
        `{"__proto__": {"polluted": true}, ${JSON.stringify({
          global_step: -4,
          epoch: 'one',
          max_steps: 1.5,
          best_metric: '0.9',
          best_model_checkpoint: '../../etc/passwd',
          best_global_step: { x: 1 },
          log_history: [null, 7, 'x', [1], { loss: '0.3', step: 'ten' }, { loss: 0.4, step: -1 }, { eval_loss: 0.2, 'eval_<script>': 1, eval_ok: 'no', eval_f1: 0.5 }],
        }).slice(1)}`,
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.summary).toMatchObject({
      globalStep: undefined,
      epoch: undefined,
      maxSteps: undefined,
      bestMetric: undefined,
      bestCheckpoint: undefined,
      bestGlobalStep: undefined,
      loss: { value: 0.4, step: undefined },
      evalLoss: { value: 0.2, step: undefined },
      evalMetrics: [{ name: 'eval_f1', value: 0.5 }],
    });
    expect(r.summary.warnings).toHaveLength(6);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('log_history that is not a list is a warning; best_model_checkpoint may use backslashes', () => {
    const r = parseTrainerState(bytes('{"log_history": {"loss": 1}, "best_model_checkpoint": "C:\\\\runs\\\\checkpoint-50\\\\"}'));
    expect(r).toMatchObject({ ok: true, summary: { loss: undefined, bestCheckpoint: 'checkpoint-50', warnings: ['log_history is not a list; left out'] } });
  });

  it('a 100,000-entry history (a long run logging every step) gives its last loss', () => {
    const history = Array.from({ length: 100_000 }, (_, i) => ({ epoch: i / 1e5, grad_norm: 1, learning_rate: 1e-5, loss: 1 / (i + 1), step: i + 1 }));
    const text = JSON.stringify({ global_step: 100_000, log_history: history });
    const r = parseTrainerState(bytes(text));
    expect(r).toMatchObject({ ok: true, summary: { loss: { value: 1e-5, step: 100_000 } } });
  });
});

describe('checkpoint folder names and metric text', () => {
  it.each<[string, number | undefined]>([
    ['checkpoint-100', 100],
    ['checkpoint_3', 3],
    ['step_2000', 2000],
    ['global_step450', 450],
    ['epoch_2', 2],
    ['500', 500],
    ['tmp-checkpoint-400', undefined],
    ['checkpoint-', undefined],
    ['checkpoint-1e3', undefined],
    ['best', undefined],
    ['checkpoint-99999999999999999', undefined],
  ])('%s → %s', (name, step) => {
    expect(checkpointStep(name)).toBe(step);
  });

  it.each<[number, string]>([
    [0.812345678, '0.81235'],
    [300, '300'],
    [1.5e-7, '1.5e-7'],
    [Number.NaN, 'NaN'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
  ])('%s is shown as %s', (v, text) => {
    expect(formatMetric(v)).toBe(text);
  });
});
