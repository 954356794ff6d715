/**
 * A simulated Hugging Face Trainer writing checkpoints into a run folder (its `output_dir`), in
 * the order `Trainer._save_checkpoint` writes them: the model (`save_model`: weights, config.json,
 * generation_config.json, training_args.bin), then the optimizer and scheduler, then the RNG
 * state, then `trainer_state.json` last; then `_rotate_checkpoints` deletes the oldest folders
 * beyond `save_total_limit`. Options add the writer's pause before the optimizer state (gathered
 * across ranks), sharded safetensors with their index, and a staging folder renamed into place
 * (`tmp-checkpoint-N`, as transformers 4.36–4.37 did).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Bytes that are the same for the same seed and do not dedup against another seed's (each file its own content). */
export function seededBytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += block.length) {
    block.copy(out, i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export interface TrainerWriterOptions {
  /** The run folder: `<outbox>/checkpoints/run1`. */
  runDir: string;
  /** Checkpoints kept locally (Trainer's `save_total_limit`); older ones are deleted after each save. */
  saveTotalLimit?: number;
  /** Bytes of the model weights (split over the shards when sharded). */
  modelBytes?: number;
  /** Bytes of optimizer.pt (Adam holds about twice the weights). */
  optimizerBytes?: number;
}

export interface CheckpointOptions {
  /** Pause after the model files, before the optimizer state. */
  pauseBeforeOptimizerMs?: number;
  /** Write `model-0000i-of-0000n.safetensors` shards and `model.safetensors.index.json`. */
  shards?: number;
  /** Write into `tmp-checkpoint-N` and rename it into place at the end. */
  staging?: boolean;
  loss?: number;
  evalLoss?: number;
}

export interface WrittenCheckpoint {
  name: string;
  step: number;
  /** Final folder (after any rename). */
  dir: string;
  /** Relative path inside the checkpoint folder → bytes. */
  files: Record<string, Buffer>;
  /** Date.now() when trainer_state.json was written (or the staging folder renamed into place). */
  completedAt: number;
  /** Checkpoint folders the rotation deleted after this save. */
  rotated: string[];
}

export class TrainerWriter {
  readonly #o: Required<TrainerWriterOptions>;
  readonly #history: Array<Record<string, number>> = [];
  #best: { metric: number; dir: string; step: number } | undefined;

  constructor(options: TrainerWriterOptions) {
    this.#o = { saveTotalLimit: 0, modelBytes: 64 * 1024, optimizerBytes: 128 * 1024, ...options };
  }

  async save(step: number, options: CheckpointOptions = {}): Promise<WrittenCheckpoint> {
    const name = `checkpoint-${step}`;
    const finalDir = path.join(this.#o.runDir, name);
    const dir = options.staging ? path.join(this.#o.runDir, `tmp-${name}`) : finalDir;
    await mkdir(dir, { recursive: true });
    const files: Record<string, Buffer> = {};
    const put = async (rel: string, bytes: Buffer) => {
      files[rel] = bytes;
      await writeFile(path.join(dir, rel), bytes);
    };

    // save_model
    const shards = options.shards ?? 1;
    if (shards > 1) {
      const per = Math.ceil(this.#o.modelBytes / shards);
      const weightMap: Record<string, string> = {};
      for (let i = 1; i <= shards; i++) {
        const shard = `model-${String(i).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
        await put(shard, randomBytes(per));
        weightMap[`layers.${i}.weight`] = shard;
      }
      await put('model.safetensors.index.json', Buffer.from(JSON.stringify({ metadata: { total_size: per * shards }, weight_map: weightMap }, null, 2)));
    } else {
      await put('model.safetensors', randomBytes(this.#o.modelBytes));
    }
    await put('config.json', Buffer.from(JSON.stringify({ architectures: ['Qwen2ForCausalLM'], hidden_size: 64 }, null, 2)));
    await put('generation_config.json', Buffer.from('{"do_sample": false}\n'));
    await put('training_args.bin', randomBytes(512));

    if (options.pauseBeforeOptimizerMs) await new Promise((r) => setTimeout(r, options.pauseBeforeOptimizerMs));
    await put('optimizer.pt', randomBytes(this.#o.optimizerBytes));
    await put('scheduler.pt', randomBytes(1024));
    await put('rng_state.pth', randomBytes(2048));

    const loss = options.loss ?? 2 / Math.sqrt(step);
    const evalLoss = options.evalLoss ?? loss * 1.1;
    const epoch = step / 1000;
    this.#history.push({ epoch, grad_norm: 1.5, learning_rate: 5e-5, loss, step });
    this.#history.push({ epoch, eval_loss: evalLoss, eval_runtime: 1.25, eval_samples_per_second: 80, eval_steps_per_second: 10, step });
    if (this.#best === undefined || evalLoss < this.#best.metric) this.#best = { metric: evalLoss, dir: finalDir, step };
    const state = {
      best_global_step: this.#best.step,
      best_metric: this.#best.metric,
      best_model_checkpoint: this.#best.dir,
      epoch,
      eval_steps: 100,
      global_step: step,
      is_hyper_param_search: false,
      is_local_process_zero: true,
      is_world_process_zero: true,
      log_history: this.#history,
      logging_steps: 100,
      max_steps: 1000,
      num_input_tokens_seen: 0,
      num_train_epochs: 1,
      save_steps: 100,
      stateful_callbacks: { TrainerControl: { args: { should_save: true, should_evaluate: false, should_log: false, should_training_stop: false, should_epoch_stop: false }, attributes: {} } },
      total_flos: 1e12,
      train_batch_size: 8,
      trial_name: null,
      trial_params: null,
    };
    await put('trainer_state.json', Buffer.from(`${JSON.stringify(state, null, 2)}\n`));
    if (options.staging) await rename(dir, finalDir);
    const completedAt = Date.now();

    const rotated = await this.#rotate();
    return { name, step, dir: finalDir, files, completedAt, rotated };
  }

  /** `_rotate_checkpoints`: keeps the newest `saveTotalLimit` checkpoint folders (and the best one). */
  async #rotate(): Promise<string[]> {
    if (this.#o.saveTotalLimit <= 0) return [];
    const names = (await readdir(this.#o.runDir)).filter((n) => /^checkpoint-\d+$/.test(n));
    names.sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
    const best = this.#best && path.basename(this.#best.dir);
    const deletable = names.filter((n) => n !== best);
    const excess = names.length - this.#o.saveTotalLimit;
    const doomed = excess > 0 ? deletable.slice(0, excess) : [];
    for (const n of doomed) await rm(path.join(this.#o.runDir, n), { recursive: true, force: true });
    return doomed;
  }
}
