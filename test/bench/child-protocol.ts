// The child side of a benchmarked server process: start the server, print {"url": ...} as one JSON line
// on stdout, answer {type: 'rss'} with process.memoryUsage().rss, stop on {type: 'stop'} or when the
// parent goes away.
export interface ChildServer {
  url: string;
  stop(): Promise<void>;
}

export type ParentMessage = { type: 'rss' } | { type: 'stop' };
export type ChildMessage = { type: 'rss'; rss: number } | { type: 'stopped' };

export function serveInChild(start: () => Promise<ChildServer>): void {
  let server: ChildServer | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    try {
      await server?.stop();
    } finally {
      if (process.connected) process.send?.({ type: 'stopped' } satisfies ChildMessage);
      process.exit(code);
    }
  };
  process.on('message', (message: ParentMessage) => {
    if (message?.type === 'rss') process.send?.({ type: 'rss', rss: process.memoryUsage().rss } satisfies ChildMessage);
    else if (message?.type === 'stop') void stop(0);
  });
  process.on('disconnect', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  start().then(
    (started) => {
      server = started;
      process.stdout.write(JSON.stringify({ url: started.url, pid: process.pid }) + '\n');
    },
    (error: unknown) => {
      console.error('server did not start:', error);
      process.exit(1);
    },
  );
}
