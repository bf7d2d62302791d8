/**
 * Pair the config's history with the layers, as docker does: history entries are in build order,
 * and every entry without `empty_layer: true` made the next layer, bottom-up. Entries with
 * `empty_layer` (ENV, CMD, WORKDIR…) made no layer; they are kept in order with `layer: null`.
 * When the counts disagree (hand-made or squashed images) the pairing stops where either runs out:
 * surplus history entries get `layer: null`, layers without one get no history.
 */
import type { HistoryEntry } from '../read/config.js';

export interface HistoryStep {
  created?: string;
  createdBy?: string;
  comment?: string;
  emptyLayer: boolean;
  /** The layer this step made, or null. */
  layer: number | null;
}

export interface PairedHistory {
  /** Every history entry in build order. */
  steps: HistoryStep[];
  /** For each layer, the step that made it (index into steps), or undefined. */
  byLayer: Array<HistoryStep | undefined>;
}

export function pairHistory(history: HistoryEntry[], layerCount: number): PairedHistory {
  const steps: HistoryStep[] = [];
  const byLayer = new Array<HistoryStep | undefined>(layerCount).fill(undefined);
  let next = 0;
  for (const h of history) {
    const emptyLayer = h.empty_layer === true;
    const layer = !emptyLayer && next < layerCount ? next++ : null;
    const step: HistoryStep = { emptyLayer, layer };
    if (typeof h.created === 'string') step.created = h.created;
    if (typeof h.created_by === 'string') step.createdBy = h.created_by;
    if (typeof h.comment === 'string') step.comment = h.comment;
    steps.push(step);
    if (layer !== null) byLayer[layer] = step;
  }
  return { steps, byLayer };
}

/** What to show for a layer's origin: its created_by, else its comment. */
export function originOf(step: HistoryStep | undefined): string | undefined {
  return step?.createdBy ?? step?.comment;
}
