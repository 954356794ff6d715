/**
 * BLAKE3 keyed with the Xet data key, one chunk at a time: the chunk hash of docs/xet/hashing.md.
 *
 * Native first: the Linux x64 builds of @napi-rs/blake-hash (the Rust `blake3` crate, with its
 * AVX2/AVX-512 code picked at run time) hash a 64 KiB chunk at about 0.23 CPU s per GiB on this
 * project's machine, where hash-wasm's portable WebAssembly takes about 1.3 s; hashing chunks was
 * the largest single cost of an upload. They are optional dependencies, required directly (the
 * glibc one, else the musl one): the registry this project installs from carries only those two of
 * the package's platform builds, and `npm ci` refuses a lockfile missing the others the
 * package's own loader would list. Anywhere else, or when neither loads, hash-wasm computes the
 * same bytes (test/unit/chunk-blake3.test.ts holds the two to each other and to the Hub library's
 * hash), so an upload never depends on it.
 *
 * Each hash is computed synchronously start to end, so one hasher serves every caller of a thread.
 */
import { createRequire } from 'node:module';
import { createBLAKE3 } from 'hash-wasm';

export type ChunkHashFn = (data: Uint8Array) => Uint8Array;

/** Which implementation computes the chunk hashes (bench/writer-noop.ts reports it). */
export type Blake3Impl = 'native' | 'wasm';

interface NativeHasher {
  reset(): void;
  update(input: Uint8Array): unknown;
  digestBuffer(): Buffer;
}
interface NativeModule {
  Blake3Hasher: { newKeyed(key: Buffer): NativeHasher };
}

/** The platform builds tried, in order (a build for the other libc fails to load and the next is tried). */
const NATIVE_BUILDS = ['@napi-rs/blake-hash-linux-x64-gnu', '@napi-rs/blake-hash-linux-x64-musl'];

let native: string | undefined | null = null;

/** The native module's resolved path, or undefined when none loads here (tests force this with HF_OUTBOX_BLAKE3=wasm). Looked up once per process. */
export function nativeBlake3Path(): string | undefined {
  if (native === null) native = findNativeBuild();
  return native;
}

function findNativeBuild(): string | undefined {
  if (process.env['HF_OUTBOX_BLAKE3'] === 'wasm' || process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  const require = createRequire(import.meta.url);
  for (const name of NATIVE_BUILDS) {
    try {
      const path = require.resolve(name);
      (require(path) as NativeModule).Blake3Hasher.newKeyed(Buffer.alloc(32));
      return path;
    } catch {
      // not installed, or built for the other libc
    }
  }
  return undefined;
}

/** The keyed chunk hash function, native when it loads, else WebAssembly. */
export async function keyedBlake3(key: Uint8Array, impl: Blake3Impl | 'auto' = 'auto'): Promise<{ impl: Blake3Impl; hash: ChunkHashFn }> {
  const nativePath = nativeBlake3Path();
  if (impl !== 'wasm' && nativePath !== undefined) {
    const hasher = (createRequire(import.meta.url)(nativePath) as NativeModule).Blake3Hasher.newKeyed(Buffer.from(key));
    return {
      impl: 'native',
      hash: (data) => {
        hasher.reset();
        hasher.update(data);
        return hasher.digestBuffer();
      },
    };
  }
  const wasm = await createBLAKE3(256, key);
  return {
    impl: 'wasm',
    hash: (data) => {
      wasm.init();
      wasm.update(data);
      return wasm.digest('binary');
    },
  };
}
