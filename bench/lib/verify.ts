/**
 * Read-back checks, so a fast-but-wrong run cannot pass: a stored file must have the expected size,
 * the Xet hash computed locally (when known), and the same sha256 either as rebuilt by the emulator
 * from its xorbs or as downloaded through the client library's own downloadFile.
 */
import { downloadFile } from '@huggingface/hub';
import type { EmulatorProcess, StoredFile } from './emulator.js';
import { BUCKET, TOKEN } from './setup.js';
import { sha256OfBlob } from '../../src/hash/sha256.js';

export interface Expected {
  size: number;
  sha256: string;
  xetHash?: string;
}

export class Verifier {
  checks = 0;
  readonly failures: string[] = [];
  #listing = new Map<EmulatorProcess, Map<string, StoredFile>>();

  async #stored(emu: EmulatorProcess): Promise<Map<string, StoredFile>> {
    let map = this.#listing.get(emu);
    if (!map) {
      map = new Map((await emu.files()).map((f) => [f.path, f]));
      this.#listing.set(emu, map);
    }
    return map;
  }

  /** Forget cached listings (after more uploads to the same emulator). */
  refresh(): void {
    this.#listing.clear();
  }

  async file(emu: EmulatorProcess, what: string, bucketPath: string, expected: Expected, via: 'emulator' | 'download'): Promise<boolean> {
    this.checks++;
    const fail = (why: string) => {
      this.failures.push(`${what}: ${bucketPath}: ${why}`);
      return false;
    };
    const info = (await this.#stored(emu)).get(bucketPath);
    if (!info) return fail('not in the bucket');
    if (info.size !== expected.size) return fail(`size ${info.size}, expected ${expected.size}`);
    if (expected.xetHash !== undefined && info.xetHash !== expected.xetHash) return fail(`xetHash ${info.xetHash}, expected ${expected.xetHash}`);
    let sha: string | undefined;
    if (via === 'emulator') {
      try {
        sha = (await emu.sha256(bucketPath))?.sha256;
      } catch (error) {
        return fail(String((error as Error).message));
      }
    } else {
      const blob = await downloadFile({ repo: { type: 'bucket', name: BUCKET }, path: bucketPath, hubUrl: emu.url, accessToken: TOKEN });
      if (blob) sha = await sha256OfBlob(blob);
    }
    if (sha !== expected.sha256) return fail(`sha256 ${sha ?? '(unreadable)'} via ${via}, expected ${expected.sha256}`);
    return true;
  }

  /** Every expected path is listed with the right size; `sample` of them are read back in full. */
  async many(
    emu: EmulatorProcess,
    what: string,
    files: Array<{ bucketPath: string; expected: Expected }>,
    sample: number,
  ): Promise<void> {
    const stored = await this.#stored(emu);
    let missing = 0;
    let wrongSize = 0;
    for (const f of files) {
      const info = stored.get(f.bucketPath);
      if (!info) missing++;
      else if (info.size !== f.expected.size) wrongSize++;
    }
    this.checks++;
    if (missing || wrongSize) this.failures.push(`${what}: ${missing} of ${files.length} files missing, ${wrongSize} with the wrong size`);
    const step = Math.max(1, Math.floor(files.length / Math.max(1, sample)));
    for (let i = 0, n = 0; i < files.length && n < sample; i += step, n++) {
      const f = files[i];
      if (f) await this.file(emu, what, f.bucketPath, f.expected, n % 2 === 0 ? 'download' : 'emulator');
    }
  }
}
