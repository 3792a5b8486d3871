// HSM settings (GET /settings, PATCH /settings/{name}): named boolean values kept as the strings
// "true" and "false", as the service does.
import { HsmError } from './errors.js';
import type { MarkerStore } from '../store/access-store.js';

export interface Setting {
  name: string;
  value: string;
  type: 'boolean';
}

/** The settings a Managed HSM has, with their values on a new HSM. */
const KNOWN: Readonly<Record<string, string>> = {
  AllowKeyManagementOperationsThroughARM: 'false',
};

const markerOf = (name: string) => `setting:${name}`;

export class Settings {
  constructor(private readonly store: MarkerStore) {}

  list(): Setting[] {
    return Object.keys(KNOWN).map((name) => this.get(name));
  }

  get(name: string): Setting {
    const known = this.#known(name);
    return { name: known, value: this.store.marker(markerOf(known)) ?? (KNOWN[known] as string), type: 'boolean' };
  }

  update(name: string, value: unknown): Setting {
    const known = this.#known(name);
    if (value !== 'true' && value !== 'false') throw new HsmError('BadParameter', `value: the setting ${known} takes the string "true" or "false"`);
    this.store.setMarker(markerOf(known), value);
    return this.get(known);
  }

  #known(name: string): string {
    const known = Object.keys(KNOWN).find((k) => k.toLowerCase() === name.toLowerCase());
    if (!known) throw new HsmError('BadParameter', `name: '${name.slice(0, 100)}' is not a setting of this HSM; known: ${Object.keys(KNOWN).join(', ')}`);
    return known;
  }
}
