/**
 * Summaries of V8 profiles for BENCHMARKS.md: `node --cpu-prof` (.cpuprofile: self time per
 * function, from the samples and their time deltas) and `node --heap-prof` (.heapprofile: sampled
 * allocation bytes per function). Functions are keyed by name + file:line so the lead can find them;
 * paths are shown relative to the checkout, node internals as `node:…`.
 */
import { readFileSync } from 'node:fs';

function where(frame, root) {
  let url = frame.url || '';
  if (url.startsWith('file://')) url = url.slice('file://'.length);
  if (root && url.startsWith(root)) url = url.slice(root.length + 1);
  const name = frame.functionName || '(anonymous)';
  return url ? `${name} ${url}:${frame.lineNumber + 1}` : name;
}

/** Top functions by self time. @returns {{total: number, top: Array<{fn: string, ms: number, share: number}>}} */
export function summarizeCpuProfile(path, root, limit = 15) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const key = where(byId.get(id).callFrame, root);
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    total += dt;
  });
  const top = [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, us]) => ({ fn, ms: us / 1000, share: us / total }));
  return { total: total / 1000, top };
}

/** Top functions by sampled allocation size (self). */
export function summarizeHeapProfile(path, root, limit = 10) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const self = new Map();
  let total = 0;
  const visit = (node) => {
    const key = where(node.callFrame, root);
    self.set(key, (self.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children ?? []) visit(child);
  };
  visit(profile.head);
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, bytes]) => ({ fn, bytes, share: total ? bytes / total : 0 }));
  return { total, top };
}
