/**
 * Progress for long waits (registry, PDS): a single updating line on a terminal's stderr, and
 * nothing at all when stderr is piped, so scripted output stays clean.
 */
export class Progress {
  private readonly enabled: boolean;
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private text = '';

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = stream.isTTY === true;
  }

  update(text: string): void {
    if (!this.enabled) return;
    this.text = text;
    this.render();
    this.timer ??= setInterval(() => this.render(), 120);
    this.timer.unref();
  }

  done(): void {
    if (!this.enabled) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.stream.write('\r\x1b[2K');
  }

  /** Runs `work` with `text` shown while it is pending. */
  async during<T>(text: string, work: () => Promise<T>): Promise<T> {
    this.update(text);
    try {
      return await work();
    } finally {
      this.done();
    }
  }

  private render(): void {
    const frames = '|/-\\';
    this.stream.write(`\r\x1b[2K${frames[this.frame++ % frames.length]} ${this.text}`);
  }
}
