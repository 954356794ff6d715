/**
 * The receiving end of the sd_notify protocol, like PID 1's, for tests: Node cannot bind an
 * AF_UNIX SOCK_DGRAM socket, so a small python3 child binds it (credentials on, passed fds closed
 * as PID 1 does) and prints every datagram as a JSON line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { onTestFinished } from 'vitest';
import { waitFor } from './cli.js';

/** The receiving end of the notify protocol, like PID 1's: credentials on, passed fds closed. */
export const RECEIVER = `
import json, os, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind('\\0' + addr[1:] if addr.startswith('@') else addr)
print(json.dumps({'listening': addr}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(64 * 4) + socket.CMSG_SPACE(12))
    pid, fds = None, 0
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('iII', payload[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            n = len(payload) // 4
            for fd in struct.unpack('%di' % n, payload[:n * 4]):
                os.close(fd)
                fds += 1
    print(json.dumps({'pid': pid, 'fds': fds, 'fields': [f for f in data.decode('utf-8', 'replace').split('\\n') if f]}), flush=True)
`;

export interface Datagram {
  pid: number | null;
  fds: number;
  fields: string[];
}

export class Receiver {
  readonly address: string;
  readonly datagrams: Datagram[] = [];
  readonly child: ChildProcess;
  #listening = false;
  #stderr = '';

  constructor(address: string) {
    this.address = address;
    this.child = spawn('python3', ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl)) as Datagram & { listening?: string };
        buffer = buffer.slice(nl + 1);
        if (line.listening !== undefined) this.#listening = true;
        else this.datagrams.push(line);
      }
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.#stderr += d));
    onTestFinished(() => {
      this.child.kill('SIGKILL');
    });
  }

  async ready(): Promise<this> {
    await waitFor(() => this.#listening || this.child.exitCode !== null, 10_000, 'the receiver to bind');
    if (!this.#listening) throw new Error(`receiver failed: ${this.#stderr}`);
    return this;
  }

  /** Messages other than the BARRIER=1 that systemd-notify sends after each one. */
  get messages(): string[][] {
    return this.datagrams.filter((d) => !d.fields.includes('BARRIER=1')).map((d) => d.fields);
  }

  count(field: string): number {
    return this.messages.filter((m) => m.includes(field)).length;
  }
}

