/** The live progress line on stderr: redrawn in place on a terminal, one line per phase otherwise. */
import { now } from './clock.js';

export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  readonly #enabled: boolean;
  #text = '';
  #since = now();
  #expectedMs = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(enabled = true) {
    this.#enabled = enabled;
  }

  /** A new phase; `expectedMs` shows how long it should take. */
  phase(text: string, expectedMs = 0): void {
    if (!this.#enabled) return;
    this.#text = text;
    this.#since = now();
    this.#expectedMs = expectedMs;
    if (!this.#tty) {
      process.stderr.write(`${text}\n`);
      return;
    }
    this.#timer ??= setInterval(() => this.#render(), 250).unref();
    this.#render();
  }

  /** A line that stays (a warning, a skipped target). */
  log(line: string): void {
    if (this.#tty && this.#enabled) process.stderr.write('\r\x1b[K');
    process.stderr.write(`${line}\n`);
    if (this.#tty && this.#enabled && this.#text) this.#render();
  }

  done(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#tty && this.#enabled) process.stderr.write('\r\x1b[K');
    this.#text = '';
  }

  #render(): void {
    const elapsed = ((now() - this.#since) / 1000).toFixed(1);
    const of = this.#expectedMs > 0 ? `/${(this.#expectedMs / 1000).toFixed(1)}` : '';
    const line = `${this.#text} · ${elapsed}${of} s`;
    const width = process.stderr.columns || 120;
    process.stderr.write(`\r\x1b[K${line.length > width - 1 ? line.slice(0, width - 2) + '…' : line}`);
  }
}
