/**
 * Passive health, Envoy's outlier detection: the data path reports every
 * connect to a member (`connect-result`), and `consecutiveFailures` failed
 * connects in a row eject the member (the `ejected` flag) for
 * ejectTime × 2^(ejections − 1), capped at maxEjectTime, plus a little jitter
 * so that members do not all return at once. A success resets the count; a
 * passing active check readmits an ejected member at once; never more than
 * maxEjectedPercent of the service's members are ejected together. A member
 * that stays in for maxEjectTime has its ejection count forgotten, so its next
 * ejection is short again.
 */
import type { OutlierConfig } from '../config/types.js';
import type { Cause, Member } from '../pool/member.js';
import type { ConnectResult, Listener } from '../proxy/types.js';
import type { CheckEvent, HealthChecker } from './checker.js';

/** Return jitter: up to this fraction of the ejection time, and never more than JITTER_MAX_MS. */
const JITTER_FRACTION = 0.1;
const JITTER_MAX_MS = 1000;
/** Distinct error kinds named in an ejection's cause. */
const ERRORS_NAMED = 3;

interface Watch {
  failures: number;
  errors: string[];
  returnTimer: NodeJS.Timeout | undefined;
  forgetTimer: NodeJS.Timeout | undefined;
}

export class OutlierDetector {
  #config: OutlierConfig;
  #members: readonly Member[] = [];
  #watches = new Map<Member, Watch>();
  #listeners = new Set<Listener>();
  #checker: HealthChecker | undefined;
  #onConnect = (r: ConnectResult) => this.observe(r);
  #onCheck = (ev: CheckEvent) => {
    if (ev.result.ok && ev.member.has('ejected')) {
      this.#readmit(ev.member, `passing active check: ${this.#checker?.check.type ?? 'check'}: ${ev.result.detail}`);
    }
  };

  constructor(config: OutlierConfig, members: readonly Member[]) {
    this.#config = config;
    this.setMembers(members);
  }

  get config(): OutlierConfig {
    return this.#config;
  }

  /** Follows a listener's connect results. */
  watch(listener: Listener): void {
    if (this.#listeners.has(listener)) return;
    this.#listeners.add(listener);
    listener.on('connect-result', this.#onConnect);
  }

  unwatch(listener: Listener): void {
    if (!this.#listeners.delete(listener)) return;
    listener.off('connect-result', this.#onConnect);
  }

  /** Passing results of this checker readmit ejected members (one checker at a time: a new one replaces the last). */
  attachChecker(checker: HealthChecker): void {
    this.#checker?.off('result', this.#onCheck);
    this.#checker = checker;
    checker.on('result', this.#onCheck);
  }

  /** New settings (reload). Turning detection off readmits every member it ejected. */
  setConfig(config: OutlierConfig): void {
    this.#config = config;
    if (config.consecutiveFailures > 0) return;
    for (const [m, w] of this.#watches) {
      w.failures = 0;
      w.errors = [];
      if (m.has('ejected')) this.#readmit(m, 'outlier detection turned off');
    }
  }

  /**
   * Replaces the members (reload, discovery); kept members keep their counts. A newly
   * given member already ejected (by a predecessor detector) is adopted: it returns on time.
   */
  setMembers(members: readonly Member[]): void {
    const keep = new Set(members);
    for (const [m, w] of this.#watches) {
      if (keep.has(m)) continue;
      clearTimers(w);
      this.#watches.delete(m);
    }
    this.#members = [...members];
    for (const m of members) {
      if (this.#watches.has(m)) continue;
      const w: Watch = { failures: 0, errors: [], returnTimer: undefined, forgetTimer: undefined };
      this.#watches.set(m, w);
      if (m.has('ejected')) w.returnTimer = this.#returnAfter(m, this.#ejectionTime(Math.max(1, m.ejections)));
    }
  }

  /** One connect attempt's outcome (the listener's `connect-result`). */
  observe(r: ConnectResult): void {
    const w = this.#watches.get(r.member);
    if (!w) return;
    if (r.ok) {
      // Called for every connection: touch nothing unless a streak is under way.
      if (w.failures !== 0) {
        w.failures = 0;
        w.errors.length = 0;
      }
      return;
    }
    if (this.#config.consecutiveFailures <= 0 || r.member.has('ejected')) return;
    w.failures++;
    const kind = r.error ?? 'error';
    if (!w.errors.includes(kind)) {
      w.errors.push(kind);
      if (w.errors.length > ERRORS_NAMED) w.errors.shift();
    }
    if (w.failures >= this.#config.consecutiveFailures) this.#eject(r.member, w);
  }

  /** Stops listening and clears timers. Ejected members stay ejected for a successor detector to adopt. */
  stop(): void {
    for (const l of this.#listeners) l.off('connect-result', this.#onConnect);
    this.#listeners.clear();
    this.#checker?.off('result', this.#onCheck);
    this.#checker = undefined;
    for (const w of this.#watches.values()) clearTimers(w);
  }

  #eject(m: Member, w: Watch): void {
    // Envoy's max_ejection_percent, counted so that the share stays within it after this ejection.
    const ejected = this.#members.filter((x) => x.has('ejected')).length;
    if ((ejected + 1) * 100 > this.#config.maxEjectedPercent * this.#members.length) return;
    m.ejections++;
    const time = this.#ejectionTime(m.ejections);
    const detail = `${w.failures} consecutive connect failures (${w.errors.join(', ')}); out for ${Math.round(time)}ms`;
    w.failures = 0;
    w.errors = [];
    clearTimers(w);
    w.returnTimer = this.#returnAfter(m, time);
    m.setFlag('ejected', true, { source: 'outlier', detail });
  }

  /** ejectTime × 2^(n−1), capped, plus return jitter. */
  #ejectionTime(n: number): number {
    const { ejectTime, maxEjectTime } = this.#config;
    const base = Math.min(ejectTime * 2 ** Math.min(n - 1, 30), Math.max(maxEjectTime, ejectTime));
    return base + Math.random() * Math.min(base * JITTER_FRACTION, JITTER_MAX_MS);
  }

  #returnAfter(m: Member, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.#readmit(m, `ejection of ${Math.round(ms)}ms ended`), ms);
    // A pending return must not keep a stopping process alive.
    timer.unref();
    return timer;
  }

  #readmit(m: Member, detail: string): void {
    const w = this.#watches.get(m);
    if (!w) return;
    clearTimers(w);
    w.failures = 0;
    w.errors = [];
    // Forget the ejection count once the member has stayed in for the longest ejection.
    const forgetAfter = Math.max(this.#config.maxEjectTime, this.#config.ejectTime);
    w.forgetTimer = setTimeout(() => {
      w.forgetTimer = undefined;
      m.ejections = 0;
    }, forgetAfter);
    w.forgetTimer.unref();
    const cause: Cause = { source: 'outlier', detail };
    m.setFlag('ejected', false, cause);
  }
}

function clearTimers(w: Watch): void {
  if (w.returnTimer) clearTimeout(w.returnTimer);
  if (w.forgetTimer) clearTimeout(w.forgetTimer);
  w.returnTimer = undefined;
  w.forgetTimer = undefined;
}
