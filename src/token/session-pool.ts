// A fixed set of open sessions lent out one caller at a time (a PKCS#11 session runs one
// operation at a time). Replacing the set after the token dropped its sessions starts a new
// generation: leases from an older generation are not taken back.

export interface SessionLease {
  readonly session: number;
  readonly generation: number;
}

export class SessionPool {
  #idle: SessionLease[] = [];
  #waiters: Array<(lease: SessionLease) => void> = [];
  #generation = 0;
  #size = 0;

  constructor(sessions: readonly number[]) {
    this.replace(sessions);
  }

  get generation(): number {
    return this.#generation;
  }

  get size(): number {
    return this.#size;
  }

  acquire(): Promise<SessionLease> {
    const lease = this.#idle.pop();
    if (lease) return Promise.resolve(lease);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(lease: SessionLease): void {
    if (lease.generation !== this.#generation) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter(lease);
    else this.#idle.push(lease);
  }

  async use<T>(fn: (lease: SessionLease) => Promise<T>): Promise<T> {
    const lease = await this.acquire();
    try {
      return await fn(lease);
    } finally {
      this.release(lease);
    }
  }

  /** Starts a new generation with these sessions; waiting callers get them first. */
  replace(sessions: readonly number[]): void {
    this.#generation++;
    this.#size = sessions.length;
    this.#idle = [];
    for (const session of sessions) this.release({ session, generation: this.#generation });
  }
}
