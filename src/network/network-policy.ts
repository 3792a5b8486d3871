// The network rules in force: set at start (flags or a config file), changed at run time by an
// administrator, kept in the store so that a restart keeps them.
import { NetworkAcl, type NetworkRules, OPEN_NETWORK, parseNetworkRules } from './network-rules.js';
import type { MarkerStore } from '../store/access-store.js';

const RULES_MARKER = 'network-rules';

export class NetworkPolicy {
  #acl: NetworkAcl;

  /** `configured`: rules given at start, which replace the kept ones; otherwise the kept ones apply. */
  constructor(
    private readonly store: MarkerStore,
    configured?: NetworkRules,
  ) {
    const kept = store.marker(RULES_MARKER);
    const rules = configured ?? (kept ? parseNetworkRules(JSON.parse(kept)) : OPEN_NETWORK);
    if (configured) store.setMarker(RULES_MARKER, JSON.stringify(configured));
    this.#acl = new NetworkAcl(rules);
  }

  get acl(): NetworkAcl {
    return this.#acl;
  }

  /** Replaces the fields given in `input`; the others stay. */
  update(input: unknown): NetworkRules {
    const rules = parseNetworkRules(input, this.#acl.rules);
    this.store.setMarker(RULES_MARKER, JSON.stringify(rules));
    this.#acl = new NetworkAcl(rules);
    return rules;
  }
}
