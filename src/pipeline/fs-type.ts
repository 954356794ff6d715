/**
 * What file system the outbox is on, and what that means for watching it.
 *
 * inotify reports only what the local kernel does: on a network or cluster file system a file
 * written by a job on another host raises no event here. statfs(2)'s `f_type` names the file
 * system; the magic numbers below are those of linux/magic.h and of the file systems' own
 * sources (as collected by coreutils' `stat -f`).
 */
import { statfs } from 'node:fs/promises';

export interface FsTypeInfo {
  /** statfs f_type, unsigned. Undefined when it could not be read. */
  magic: number | undefined;
  /** A short name: "nfs", "lustre", "ext4/ext3/ext2", or "unknown (0x…)". */
  name: string;
  /** Writes from other hosts raise no inotify event here: polling is needed to see them. */
  remote: boolean;
}

const REMOTE: Record<number, string> = {
  0x6969: 'nfs',
  0xff534d42: 'cifs',
  0xfe534d42: 'smb2',
  0x517b: 'smb',
  0x65735546: 'fuse (gcsfuse, s3fs, JuiceFS, sshfs, …)',
  0x0bd00bd0: 'lustre',
  0x47504653: 'gpfs',
  0x19830326: 'beegfs',
  0x01021997: '9p',
  0x00c36400: 'ceph',
  0x5346414f: 'afs',
  0x6b414653: 'kafs',
  0x01161970: 'gfs2',
  0x7461636f: 'ocfs2',
  0xaad7aaea: 'panfs',
  0x73757245: 'coda',
  0x564c: 'ncp',
  0x786f4256: 'vboxsf',
  0xbacbacbc: 'vmhgfs',
};

const LOCAL: Record<number, string> = {
  0xef53: 'ext4/ext3/ext2',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x2fc12fc1: 'zfs',
  0xf2f52010: 'f2fs',
  0x4d44: 'vfat',
  0x5346544e: 'ntfs',
  0x858458f6: 'ramfs',
};

/** Classifies a statfs `f_type` (pure). */
export function classifyFsType(type: number | bigint | undefined): FsTypeInfo {
  if (type === undefined) return { magic: undefined, name: 'unknown', remote: false };
  // f_type is a signed long in some ABIs: 0xFF534D42 may arrive negative.
  const magic = Number(BigInt.asUintN(32, BigInt(type)));
  const remote = REMOTE[magic];
  if (remote !== undefined) return { magic, name: remote, remote: true };
  return { magic, name: LOCAL[magic] ?? `unknown (${hex(magic)})`, remote: false };
}

/** statfs of `absPath`; an unreadable one is "unknown" and treated as local. */
export async function detectFsType(absPath: string): Promise<FsTypeInfo> {
  try {
    return classifyFsType((await statfs(absPath)).type);
  } catch {
    return classifyFsType(undefined);
  }
}

export function hex(magic: number | undefined): string {
  return magic === undefined ? 'unknown' : `0x${magic.toString(16).toUpperCase().padStart(4, '0')}`;
}

export type WatchMode = 'auto' | 'events' | 'poll';

export interface WatchModeChoice {
  mode: 'events' | 'poll';
  fs: FsTypeInfo;
  /** One sentence for the log and for `doctor`: the file system, what it means, what we do. */
  explanation: string;
  /** True when the choice leaves changes from other hosts unseen until a rescan (events on a network fs). */
  warn: boolean;
}

/** Picks the watch mode: `auto` polls on network file systems and uses inotify events elsewhere. */
export function chooseWatchMode(requested: WatchMode, fs: FsTypeInfo, pollIntervalMs: number): WatchModeChoice {
  const on = `the outbox is on ${fs.name} (statfs type ${hex(fs.magic)})`;
  const every = `every ${formatMs(pollIntervalMs)}`;
  if (fs.remote) {
    const why = 'a network or cluster file system: inotify sees only changes made on this host, not what jobs on other hosts write';
    if (requested === 'events') {
      return { mode: 'events', fs, warn: true, explanation: `${on}, ${why}; --watch-mode events was asked for, so those are found only by the full rescan (--rescan-interval-ms); use --watch-mode auto or poll to see them within ${formatMs(pollIntervalMs)}` };
    }
    return { mode: 'poll', fs, warn: false, explanation: `${on}, ${why}; polling its folders ${every}` };
  }
  if (requested === 'poll') {
    return { mode: 'poll', fs, warn: false, explanation: `${on}, a local file system; polling its folders ${every} as asked (--watch-mode poll)` };
  }
  return { mode: 'events', fs, warn: false, explanation: `${on}, a local file system; watching it with inotify (one watch per folder)` };
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
