import { secede } from "../mod.ts";
/** Profiles this worker's isolate until a "stop" on the channel; returns top self-time functions. */
export async function profileHere(channel: string): Promise<string[]> {
  secede();
  const { Session } = await import("node:inspector");
  const s = new Session();
  s.connect();
  const post = (m: string, p?: object) =>
    new Promise<any>((res, rej) =>
      s.post(m, p as any, (e: any, r: any) => e ? rej(e) : res(r))
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 100 });
  await post("Profiler.start");
  const ch = new BroadcastChannel(channel);
  ch.postMessage("started");
  await new Promise((r) => ch.onmessage = (e) => e.data === "stop" && r(null));
  ch.close();
  const { profile } = await post("Profiler.stop");
  const byId = new Map(profile.nodes.map((n: any) => [n.id, n]));
  const counts = new Map<number, number>();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const self = new Map<string, number>();
  let total = 0;
  for (const [id, c] of counts) {
    const f: any = (byId.get(id) as any).callFrame;
    const name = `${f.functionName || "(anon)"} ${
      f.url.split("/").slice(-2).join("/")
    }`;
    self.set(name, (self.get(name) ?? 0) + c);
    total += c;
  }
  const idle = self.get("(idle) ") ?? 0;
  return [
    `total ${total} busy ${total - idle}`,
    ...[...self].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([n, c]) =>
      `${String(c).padStart(6)}  ${n}`
    ),
  ];
}
