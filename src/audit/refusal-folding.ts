// Refused requests that no authenticated caller made (missing or bad tokens, the firewall's
// refusals, failed token requests, throttling) are written in full only a few at a time per
// source address; the rest of a window is counted and written as one summary line when the window
// ends. So anonymous noise cannot push the history of authenticated operations out of the
// rotated files, while a flood still shows, with its size. Their lines are also cut short: a
// refused request writes at most a few hundred bytes.
import type { AuditEntry } from './audit-entry.js';

export interface RefusalFoldingOptions {
  /** Refused lines written in full per source and window. */
  perWindow: number;
  windowMs: number;
  /** Sources followed at once; past it the oldest window is summarised early. */
  maxSources: number;
}

export const REFUSAL_FOLDING: RefusalFoldingOptions = { perWindow: 10, windowMs: 60_000, maxSources: 1000 };

interface SourceWindow {
  start: number;
  written: number;
  folded: number;
  first?: string;
  last?: string;
  statuses: Record<string, number>;
}

const MAX_URI = 256;
const MAX_DESCRIPTION = 200;
const MAX_KEY_NAME = 128;

/** The fields of a summary line, beside the AuditEntry ones. */
export interface RefusalSummary {
  count: number;
  firstTime: string;
  lastTime: string;
  statusCodes: Record<string, number>;
}

export class RefusalFolding {
  readonly #windows = new Map<string, SourceWindow>();

  constructor(
    private readonly write: (entry: AuditEntry | (AuditEntry & { summary: RefusalSummary })) => void,
    private readonly options: RefusalFoldingOptions = REFUSAL_FOLDING,
    private readonly now: () => number = Date.now,
  ) {}

  record(entry: AuditEntry): void {
    if (entry.identity !== null || entry.resultType === 'Success') {
      this.write(entry);
      return;
    }
    const source = entry.callerIpAddress;
    // This source's window may have ended; the others' are summarised by the log's timer.
    const ended = this.#windows.get(source);
    if (ended && this.now() - ended.start >= this.options.windowMs) this.#summarise(source);
    let window = this.#windows.get(source);
    if (!window) {
      if (this.#windows.size >= this.options.maxSources) this.#summarise(this.#windows.keys().next().value as string);
      window = { start: this.now(), written: 0, folded: 0, statuses: {} };
      this.#windows.set(source, window);
    }
    if (window.written < this.options.perWindow) {
      window.written++;
      this.write(capped(entry));
      return;
    }
    window.folded++;
    window.first ??= entry.time;
    window.last = entry.time;
    const status = String(entry.properties.httpStatusCode);
    window.statuses[status] = (window.statuses[status] ?? 0) + 1;
  }

  /** Writes the summaries of windows that have ended (all of them with `all`, at close). */
  flush(all: boolean): void {
    const now = this.now();
    for (const [source, window] of this.#windows) {
      if (all || now - window.start >= this.options.windowMs) this.#summarise(source);
    }
  }

  #summarise(source: string): void {
    const window = this.#windows.get(source);
    this.#windows.delete(source);
    if (!window || window.folded === 0) return;
    this.write({
      time: new Date(this.now()).toISOString(),
      category: 'AuditEvent',
      operationName: 'RefusedRequestsSummary',
      operationVersion: null,
      resultType: 'Failure',
      resultSignature: 'Summary',
      resultDescription: `${window.folded} more refused requests from this address in ${Math.round(this.options.windowMs / 1000)} s, counted and not written one by one`,
      durationMs: 0,
      callerIpAddress: source,
      requestId: '',
      identity: null,
      properties: { httpStatusCode: 0, requestUri: '' },
      summary: { count: window.folded, firstTime: window.first as string, lastTime: window.last as string, statusCodes: window.statuses },
    });
  }
}

function capped(entry: AuditEntry): AuditEntry {
  const { key } = entry.properties;
  return {
    ...entry,
    ...(entry.resultDescription === undefined ? {} : { resultDescription: entry.resultDescription.slice(0, MAX_DESCRIPTION) }),
    properties: {
      ...entry.properties,
      requestUri: entry.properties.requestUri.slice(0, MAX_URI),
      ...(key ? { key: { name: key.name.slice(0, MAX_KEY_NAME), ...(key.version ? { version: key.version.slice(0, 32) } : {}) } } : {}),
    },
  };
}
