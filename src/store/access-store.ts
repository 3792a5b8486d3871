// What the store keeps for access control: the tenant's service principals, custom role
// definitions and role assignments. Built-in roles are code, not rows.

export interface PrincipalRecord {
  objectId: string;
  clientId: string;
  displayName: string;
  /** scrypt hash of the client secret; the secret itself is shown once and never stored. */
  secretHash: string;
  created: number;
}

export interface RoleDefinitionRecord {
  /** The definition's GUID, lower case. */
  name: string;
  roleName: string;
  description: string;
  permissions: Permission[];
  assignableScopes: string[];
}

export interface Permission {
  actions: string[];
  notActions: string[];
  dataActions: string[];
  notDataActions: string[];
}

export interface RoleAssignmentRecord {
  /** The assignment's name as the caller chose it (a GUID). */
  name: string;
  /** '/', '/keys' or '/keys/{name}'. */
  scope: string;
  principalId: string;
  /** GUID of the role definition. */
  roleDefinitionName: string;
}

export interface AccessStore {
  principalByClientId(clientId: string): PrincipalRecord | undefined;
  /** Every principal, the oldest first (by `created`, then display name). */
  principals(): PrincipalRecord[];
  addPrincipal(principal: PrincipalRecord): void;
  /** Removes a principal; true when there was one. */
  removePrincipal(objectId: string): boolean;
  /** Replaces a principal's stored secret hash (a migration to the current scheme). */
  setPrincipalSecretHash(objectId: string, secretHash: string): void;

  customRoleDefinition(name: string): RoleDefinitionRecord | undefined;
  customRoleDefinitions(): RoleDefinitionRecord[];
  putRoleDefinition(definition: RoleDefinitionRecord): void;
  removeRoleDefinition(name: string): boolean;

  roleAssignment(name: string): RoleAssignmentRecord | undefined;
  roleAssignments(): RoleAssignmentRecord[];
  roleAssignmentsOf(principalId: string): RoleAssignmentRecord[];
  /** How many assignments name a role definition (a definition in use cannot be deleted). */
  assignmentsOfRole(roleDefinitionName: string): number;
  addRoleAssignment(assignment: RoleAssignmentRecord): void;
  removeRoleAssignment(name: string): boolean;

  /**
   * A number that changes whenever another connection (a `mhsm principal` command) has committed
   * a change since the last call, so that caches of this connection's readers know to refresh.
   */
  changesByOthers(): number;

  /** Runs `work` as one transaction: all of its writes or none. */
  atomically<T>(work: () => T): T;

  /** A value set once, such as whether the initial role assignments were made. */
  marker(name: string): string | undefined;
  setMarker(name: string, value: string): void;
}

/** The part of the store that keeps single named values (settings, the clock offset, network rules). */
export type MarkerStore = Pick<AccessStore, 'marker' | 'setMarker'>;
