/**
 * Runs tasks one after another. The TPM behind swtpm has three object slots and no
 * resource manager, so two interleaved tpm2-tools sequences would flush or overrun each
 * other's objects; every public Tpm method goes through one of these.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    // A failed task must not block the ones queued after it.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
