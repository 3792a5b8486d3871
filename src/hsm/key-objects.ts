// How the key service's token objects are made: every Managed HSM key is extractable only
// wrapped under the domain's trusted key, and labelled, so that reconciliation touches only these.

/** CKA_LABEL of every token object the key service makes. */
export const TOKEN_OBJECT_LABEL = 'mhsm-key';

/** Every Managed HSM key can leave the token only wrapped under its trusted key (backups). */
export const KEY_OBJECT_OPTIONS = { exportPolicy: 'wrap-with-trusted', label: TOKEN_OBJECT_LABEL } as const;
