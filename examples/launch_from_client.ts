/**
 * The seed's first two options (docs "Launch Tasks from Tasks"): a task
 * downloads data and turns it into a list; we then launch one task per
 * element, either after gathering the list here (option 1) or after
 * gathering only its length (option 2, the data stays on the cluster).
 *
 *     deno run --allow-read examples/launch_from_client.ts
 *
 * @module
 */

import { Client, LocalCluster } from "../mod.ts";

/** Stands in for a download: a list whose length we learn only at run time. */
export function downloadAndConvertToList(uri: string): number[] {
  const n = 5 + (uri.length % 7);
  return Array.from({ length: n }, (_, i) => (i * 37) % 11);
}

/** Work on one element. */
export function processElement(x: number): number {
  return x * x;
}

/** Combine the processed elements. */
export function aggregate(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Python's operator.getitem. */
export function getitem<T>(xs: T[], i: number): T {
  return xs[i];
}

/** Python's len. */
export function len(xs: unknown[]): number {
  return xs.length;
}

if (import.meta.main) {
  await using cluster = await LocalCluster.start({ workers: 2, slots: 1 });
  await using client = await Client.connect(cluster);
  const future = client.submit(
    downloadAndConvertToList,
    "https://example.com/data",
  );

  // Option 1: gather the data locally, then submit from here.
  const data = await future.result();
  const futures = client.map(processElement, data);
  const analysis = client.submit(aggregate, futures);
  console.log(
    `option 1: ${data.length} elements, aggregate = ${await analysis.result()}`,
  );

  // Option 2: gather only the length; split the data on the cluster.
  const n = await client.submit(len, future).result();
  const elements = Array.from(
    { length: n },
    (_, i) => client.submit(getitem<number>, future, i),
  );
  const processed = elements.map((e) => client.submit(processElement, e));
  const analysis2 = client.submit(aggregate, processed);
  console.log(
    `option 2: ${n} elements, aggregate = ${await analysis2.result()}`,
  );
}
