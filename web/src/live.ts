import { useEffect, useState } from 'preact/hooks';

type Listener = (topic: string, data: unknown) => void;
const listeners = new Set<Listener>();
let source: EventSource | undefined;
let poll: ReturnType<typeof setInterval> | undefined;
let liveState = false;
const stateListeners = new Set<(live: boolean) => void>();

function setLive(v: boolean): void {
  liveState = v;
  for (const fn of stateListeners) fn(v);
}

function emit(topic: string, data: unknown): void {
  for (const fn of listeners) fn(topic, data);
}

/**
 * Server-sent events from /api/v1/stream (host, alert, check, facts changes). When the stream
 * is unavailable the pages still refresh: a 5 s tick stands in for it until it comes back.
 */
export function startLive(): void {
  stopLive();
  const es = new EventSource('/api/v1/stream?topics=hosts,alerts,checks,facts', { withCredentials: true });
  source = es;
  for (const topic of ['host', 'alert', 'check', 'facts']) es.addEventListener(topic, (e) => emit(topic, safeParse((e as MessageEvent<string>).data)));
  es.onopen = () => {
    setLive(true);
    if (poll) clearInterval(poll);
    poll = undefined;
  };
  es.onerror = () => {
    setLive(false);
    poll ??= setInterval(() => emit('tick', null), 5000);
  };
}

export function stopLive(): void {
  source?.close();
  source = undefined;
  if (poll) clearInterval(poll);
  poll = undefined;
  setLive(false);
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return s;
  }
}

/** A counter that moves (at most every `ms`) when one of `topics` changes: put it in a data hook's deps to refetch. */
export function useLiveTick(topics: string[], ms = 700): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const fn: Listener = (topic) => {
      if (topic !== 'tick' && !topics.includes(topic)) return;
      timer ??= setTimeout(() => {
        timer = undefined;
        setN((x) => x + 1);
      }, ms);
    };
    listeners.add(fn);
    return () => {
      listeners.delete(fn);
      if (timer) clearTimeout(timer);
    };
  }, [topics.join(',')]);
  return n;
}

export function useLiveState(): boolean {
  const [v, setV] = useState(liveState);
  useEffect(() => {
    stateListeners.add(setV);
    return () => void stateListeners.delete(setV);
  }, []);
  return v;
}
